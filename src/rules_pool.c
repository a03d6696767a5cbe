/* rules_pool: see rules_pool.h (the allocation paths are inline there). */
#include "rules_pool.h"

#define CHUNK (64 * 1024)

void *rules_pool_carve(struct rules_pool *p, size_t size)
{
    /* the rest of the old chunk (< 256 bytes) is left unused */
    char *chunk = malloc(CHUNK);
    if (!chunk) return NULL;
    memcpy(chunk, &p->chunks, sizeof p->chunks);
    p->chunks = chunk;
    p->next = chunk + 16; /* keeps blocks 16-aligned, as malloc's */
    p->end = chunk + CHUNK;
    void *b = p->next;
    p->next += size;
    return b;
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
