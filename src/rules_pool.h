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

struct rules_pool {
    void *free[RULES_POOL_CLASSES]; /* class i: blocks of 16 * (i + 1) bytes */
    char *next, *end;               /* the uncarved rest of the newest chunk */
    void *chunks;                   /* every chunk, linked through its first word */
};

/* A block of n bytes (1..RULES_POOL_MAX), or NULL when out of memory. */
void *rules_pool_alloc(struct rules_pool *p, size_t n);
/* Takes back a block from rules_pool_alloc(n) (any n of the same size class). */
void rules_pool_free(struct rules_pool *p, void *block, size_t n);
/* Frees every chunk; the pool is empty (and usable) again. */
void rules_pool_release(struct rules_pool *p);

/* The lua_Alloc-style realloc: blocks of up to RULES_POOL_MAX bytes from the pool, larger from
 * malloc, moving between them as a block crosses the limit. osize is 0 for a new block. */
void *rules_pool_realloc(struct rules_pool *p, void *ptr, size_t osize, size_t nsize);
/* Frees a block of rules_pool_realloc (osize: its size as last asked for). */
void rules_pool_dealloc(struct rules_pool *p, void *ptr, size_t osize);

#endif
