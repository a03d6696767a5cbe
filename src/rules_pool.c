/* rules_pool: see rules_pool.h. */
#include "rules_pool.h"

#include <stdlib.h>
#include <string.h>

#define CHUNK (64 * 1024)

#if defined(__SANITIZE_ADDRESS__)
#define POOL_ON 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define POOL_ON 0
#endif
#endif
#ifndef POOL_ON
#define POOL_ON 1
#endif

static size_t class_of(size_t n) { return (n - 1) / 16; }

void *rules_pool_alloc(struct rules_pool *p, size_t n)
{
    if (!POOL_ON) return malloc(n);
    size_t c = class_of(n), size = 16 * (c + 1);
    void *b = p->free[c];
    if (b) {
        memcpy(&p->free[c], b, sizeof b); /* the next free block is kept in the block */
        return b;
    }
    if ((size_t)(p->end - p->next) < size) {
        /* the rest of the old chunk (< 256 bytes) is left unused */
        char *chunk = malloc(CHUNK);
        if (!chunk) return NULL;
        memcpy(chunk, &p->chunks, sizeof p->chunks);
        p->chunks = chunk;
        p->next = chunk + 16; /* keeps blocks 16-aligned, as malloc's */
        p->end = chunk + CHUNK;
    }
    b = p->next;
    p->next += size;
    return b;
}

void rules_pool_free(struct rules_pool *p, void *block, size_t n)
{
    if (!POOL_ON) {
        free(block);
        return;
    }
    size_t c = class_of(n);
    memcpy(block, &p->free[c], sizeof block);
    p->free[c] = block;
}

void rules_pool_release(struct rules_pool *p)
{
    void *c = p->chunks;
    while (c) {
        void *next;
        memcpy(&next, c, sizeof next);
        free(c);
        c = next;
    }
    memset(p, 0, sizeof *p);
}

void *rules_pool_realloc(struct rules_pool *p, void *ptr, size_t osize, size_t nsize)
{
    int osmall = ptr && osize <= RULES_POOL_MAX, nsmall = nsize <= RULES_POOL_MAX;
    if (!ptr) return nsmall ? rules_pool_alloc(p, nsize) : malloc(nsize);
    if (!osmall && !nsmall) return realloc(ptr, nsize);
    /* a small block that stays in its size class stays where it is */
    if (POOL_ON && osmall && nsmall && class_of(osize) == class_of(nsize)) return ptr;
    void *q = nsmall ? rules_pool_alloc(p, nsize) : malloc(nsize);
    if (!q) return NULL;
    memcpy(q, ptr, osize < nsize ? osize : nsize);
    if (osmall) rules_pool_free(p, ptr, osize);
    else free(ptr);
    return q;
}

void rules_pool_dealloc(struct rules_pool *p, void *ptr, size_t osize)
{
    if (osize <= RULES_POOL_MAX) rules_pool_free(p, ptr, osize);
    else free(ptr);
}
