/* rules_pool: size-class free lists for the small blocks of a rules state (tables, strings,
 * closures: most Lua allocations are under 256 bytes and short-lived). A dry-run allocates
 * and frees some thousand of them per event; malloc + free cost more than the rule's own
 * work on them. Lua passes a block's size back on free, so blocks carry no header. Freed
 * blocks stay in the pool until the state is closed: the rules memory cap counts what Lua
 * holds, the pool never holds more than the state's peak of small blocks. Not thread-safe:
 * one pool per Lua state. Under AddressSanitizer blocks come straight from malloc, so ASan
 * still sees every Lua object. */
#ifndef EZ_RULES_POOL_H
#define EZ_RULES_POOL_H

#include <stddef.h>

#define RULES_POOL_MAX 256          /* larger blocks go to malloc */
#define RULES_POOL_CLASSES (RULES_POOL_MAX / 16)

#include <stdlib.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__)
#define RULES_POOL_ON 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RULES_POOL_ON 0
#endif
#endif
#ifndef RULES_POOL_ON
#define RULES_POOL_ON 1
#endif

struct rules_pool {
    void *free[RULES_POOL_CLASSES]; /* class i: blocks of 16 * (i + 1) bytes */
    char *next, *end;               /* the uncarved rest of the newest chunk */
    void *chunks;                   /* every chunk, linked through its first word */
};

/* Frees every chunk; the pool is empty (and usable) again. */
void rules_pool_release(struct rules_pool *p);
/* A block of size bytes (a class's size) carved from a new chunk, or NULL. */
void *rules_pool_carve(struct rules_pool *p, size_t size);

/* The functions below are inline: the rules state's allocator calls them for every Lua
 * allocation and free (~350 an order in the dry-run), and the calls across files cost as much
 * as the free-list work itself. */

static inline size_t rules_pool_class(size_t n) { return (n - 1) / 16; }

/* A block of n bytes (1..RULES_POOL_MAX), or NULL when out of memory. */
static inline void *rules_pool_alloc(struct rules_pool *p, size_t n)
{
    if (!RULES_POOL_ON) return malloc(n);
    size_t c = rules_pool_class(n), size = 16 * (c + 1);
    void *b = p->free[c];
    if (b) {
        memcpy(&p->free[c], b, sizeof b); /* the next free block is kept in the block */
        return b;
    }
    if ((size_t)(p->end - p->next) < size) return rules_pool_carve(p, size);
    b = p->next;
    p->next += size;
    return b;
}

/* Takes back a block from rules_pool_alloc(n) (any n of the same size class). */
static inline void rules_pool_free(struct rules_pool *p, void *block, size_t n)
{
    if (!RULES_POOL_ON) {
        free(block);
        return;
    }
    size_t c = rules_pool_class(n);
    memcpy(block, &p->free[c], sizeof block);
    p->free[c] = block;
}

/* The lua_Alloc-style realloc: blocks of up to RULES_POOL_MAX bytes from the pool, larger from
 * malloc, moving between them as a block crosses the limit. osize is 0 for a new block. */
static inline void *rules_pool_realloc(struct rules_pool *p, void *ptr, size_t osize,
                                       size_t nsize)
{
    int osmall = ptr && osize <= RULES_POOL_MAX, nsmall = nsize <= RULES_POOL_MAX;
    if (!ptr) return nsmall ? rules_pool_alloc(p, nsize) : malloc(nsize);
    if (!osmall && !nsmall) return realloc(ptr, nsize);
    /* a small block that stays in its size class stays where it is */
    if (RULES_POOL_ON && osmall && nsmall && rules_pool_class(osize) == rules_pool_class(nsize))
        return ptr;
    void *q = nsmall ? rules_pool_alloc(p, nsize) : malloc(nsize);
    if (!q) return NULL;
    memcpy(q, ptr, osize < nsize ? osize : nsize);
    if (osmall) rules_pool_free(p, ptr, osize);
    else free(ptr);
    return q;
}

/* Frees a block of rules_pool_realloc (osize: its size as last asked for). */
static inline void rules_pool_dealloc(struct rules_pool *p, void *ptr, size_t osize)
{
    if (osize <= RULES_POOL_MAX) rules_pool_free(p, ptr, osize);
    else free(ptr);
}

#endif
