/* dryrun_state: see dryrun_state.h. Three open-addressing hash tables over one array of
 * records: idmap by (kind, shopify id), idmap by (kind, orderez id) -> the links that share
 * it, kv by (ns, key). A record is one allocation holding its strings.
 *
 * A replay of 100,000 orders leaves ~500,000 records: every table is far larger than the
 * caches, and each record or slot read is a miss. So a slot keeps its key's hash, compared
 * before the record is read (a lookup of an absent key, as every new order's is, reads no
 * record) and used when the table grows (which read every record); and the reverse table,
 * which only a reverse lookup reads, is built on the first one (the order rule makes none:
 * keeping it cost two more misses and three allocations a link). */
#include "dryrun_state.h"

#include "rules.h"
#include "store.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* One idmap link or kv entry. a = kind / ns, b = shopify id / key, c = orderez id / value. */
struct rec {
    uint64_t seq;          /* creation order: the reverse lookup gives the oldest link */
    uint32_t idx;          /* its index in recs + 1, as its slots hold it */
    uint32_t link;         /* an idmap link (else a kv entry) */
    char *c;               /* own allocation: an upsert replaces it */
    size_t alen, blen;
    char ab[];             /* a '\0' b '\0' */
};

/* Open addressing, linear probing. */
struct slot {
    uint32_t idx;          /* record (or group) index + 1; 0: empty */
    uint32_t hash;         /* of its key (hash2): its place, and compared before the key */
};

struct table {
    struct slot *slot;
    size_t cap, n;         /* cap a power of two */
};

/* The reverse idmap: (kind, orderez id) -> the records linked to it. */
struct group {
    char *key;             /* kind '\0' orderez id */
    size_t klen;
    uint32_t *recs;
    size_t n, cap;
};

/* What a write of an open attempt replaced: the record's value, owned here until the attempt
 * ends. (A link's age needs no undo: it changes only when the link gets its first value, and
 * a link undone back to none is aged afresh when it gets one again.) */
struct undo {
    struct rec *r;
    char *old_c;
    int idmap;
};

struct dryrun_state {
    struct rec **recs;     /* idmap links, then kv entries, in one array */
    size_t nrecs, caprecs;
    struct table idmap, kv, rev;
    int rev_on;            /* rev and groups are built (on the first reverse lookup) */
    struct group *groups;
    size_t ngroups, capgroups;
    uint64_t seq;          /* the last age given to a link */
    const char *err;
    int attempt;           /* between dryrun_state_begin and its commit or rollback */
    struct undo *undo;
    size_t nundo, capundo;
};

static uint32_t hash2(const char *a, size_t alen, const char *b, size_t blen)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a over a '\0' b */
    for (size_t i = 0; i < alen; i++) h = (h ^ (unsigned char)a[i]) * 1099511628211ULL;
    h *= 1099511628211ULL;
    for (size_t i = 0; i < blen; i++) h = (h ^ (unsigned char)b[i]) * 1099511628211ULL;
    return (uint32_t)(h ^ (h >> 29));
}

static int rec_is(const struct rec *r, const char *a, size_t alen, const char *b, size_t blen)
{
    return r->alen == alen && r->blen == blen && memcmp(r->ab, a, alen) == 0 &&
           memcmp(r->ab + alen + 1, b, blen) == 0;
}

static int group_is(const struct group *g, const char *a, size_t alen, const char *b, size_t blen)
{
    return g->klen == alen + 1 + blen && memcmp(g->key, a, alen) == 0 && g->key[alen] == '\0' &&
           memcmp(g->key + alen + 1, b, blen) == 0;
}

/* The slot of (a, b) in t (h its hash2): holding it, or the empty one where it goes. which:
 * 0 records, 1 groups (rev). */
static struct slot *probe(struct dryrun_state *s, struct table *t, int which, uint32_t h,
                          const char *a, size_t alen, const char *b, size_t blen)
{
    size_t mask = t->cap - 1, i = h & mask;
    for (;; i = (i + 1) & mask) {
        struct slot *sl = &t->slot[i];
        if (!sl->idx) return sl;
        if (sl->hash == h && (which ? group_is(&s->groups[sl->idx - 1], a, alen, b, blen)
                                    : rec_is(s->recs[sl->idx - 1], a, alen, b, blen)))
            return sl;
    }
}

/* Makes room for one more key (load below 3/4); the slots move by their kept hashes. */
static int grow(struct table *t)
{
    if (t->cap && (t->n + 1) * 4 < t->cap * 3) return 0;
    size_t cap = t->cap ? t->cap * 2 : 1024, mask = cap - 1;
    struct slot *slot = calloc(cap, sizeof *slot), *old = t->slot;
    if (!slot) return -1;
    for (size_t i = 0; i < t->cap; i++) {
        if (!old[i].idx) continue;
        size_t j = old[i].hash & mask;
        while (slot[j].idx) j = (j + 1) & mask;
        slot[j] = old[i];
    }
    free(old);
    t->slot = slot;
    t->cap = cap;
    return 0;
}

static int oom(struct dryrun_state *s)
{
    s->err = "out of memory";
    return -1;
}

/* The record (a, b) of t, made (with c NULL) when absent and make is set. */
static struct rec *rec_find(struct dryrun_state *s, struct table *t, const char *a, const char *b,
                            int make, int *err)
{
    size_t alen = strlen(a), blen = strlen(b);
    uint32_t h = hash2(a, alen, b, blen);
    *err = 0;
    if (!t->cap) {
        if (!make) return NULL;
        if (grow(t)) return *err = oom(s), NULL;
    }
    struct slot *at = probe(s, t, 0, h, a, alen, b, blen);
    if (at->idx) return s->recs[at->idx - 1];
    if (!make) return NULL;
    if (s->nrecs == s->caprecs) {
        size_t cap = s->caprecs ? s->caprecs * 2 : 1024;
        struct rec **r = cap < UINT32_MAX ? realloc(s->recs, cap * sizeof *r) : NULL;
        if (!r) return *err = oom(s), NULL;
        s->recs = r;
        s->caprecs = cap;
    }
    struct rec *r = malloc(sizeof *r + alen + blen + 2);
    if (!r) return *err = oom(s), NULL;
    r->seq = 0;            /* an idmap link's age is given when it gets a value */
    r->link = t == &s->idmap;
    r->c = NULL;
    r->alen = alen;
    r->blen = blen;
    memcpy(r->ab, a, alen + 1);
    memcpy(r->ab + alen + 1, b, blen + 1);
    size_t cap = t->cap;
    if (grow(t)) {
        free(r);
        return *err = oom(s), NULL;
    }
    s->recs[s->nrecs++] = r;
    r->idx = (uint32_t)s->nrecs;
    t->n++;
    /* the empty slot found above is still the one unless the table grew */
    if (t->cap != cap) at = probe(s, t, 0, h, a, alen, b, blen);
    *at = (struct slot){ r->idx, h };
    return r;
}

/* The group of (kind, orderez id). */
static struct group *group_find(struct dryrun_state *s, const char *kind, const char *oid, int make)
{
    size_t alen = strlen(kind), blen = strlen(oid);
    uint32_t h = hash2(kind, alen, oid, blen);
    if (!s->rev.cap && (!make || grow(&s->rev))) return NULL;
    struct slot *at = probe(s, &s->rev, 1, h, kind, alen, oid, blen);
    if (at->idx) return &s->groups[at->idx - 1];
    if (!make) return NULL;
    if (s->ngroups == s->capgroups) {
        size_t cap = s->capgroups ? s->capgroups * 2 : 1024;
        struct group *g = cap < UINT32_MAX ? realloc(s->groups, cap * sizeof *g) : NULL;
        if (!g) return NULL;
        s->groups = g;
        s->capgroups = cap;
    }
    struct group *g = &s->groups[s->ngroups];
    memset(g, 0, sizeof *g);
    g->klen = alen + 1 + blen;
    if (!(g->key = malloc(g->klen + 1))) return NULL;
    memcpy(g->key, kind, alen + 1);
    memcpy(g->key + alen + 1, oid, blen + 1);
    size_t tcap = s->rev.cap;
    if (grow(&s->rev)) {
        free(g->key);
        return NULL;
    }
    s->ngroups++;
    s->rev.n++;
    if (s->rev.cap != tcap) at = probe(s, &s->rev, 1, h, kind, alen, oid, blen);
    *at = (struct slot){ (uint32_t)s->ngroups, h };
    return g;
}

static int group_add(struct group *g, uint32_t rec)
{
    if (g->n == g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 2;
        uint32_t *r = realloc(g->recs, cap * sizeof *r);
        if (!r) return -1;
        g->recs = r;
        g->cap = cap;
    }
    g->recs[g->n++] = rec;
    return 0;
}

static void group_remove(struct group *g, uint32_t rec)
{
    for (size_t i = 0; i < g->n; i++)
        if (g->recs[i] == rec) {
            memmove(&g->recs[i], &g->recs[i + 1], (g->n - i - 1) * sizeof *g->recs);
            g->n--;
            return;
        }
}

static void rev_clear(struct dryrun_state *s)
{
    for (size_t i = 0; i < s->ngroups; i++) {
        free(s->groups[i].key);
        free(s->groups[i].recs);
    }
    s->ngroups = 0;
    free(s->rev.slot);
    s->rev = (struct table){ 0 };
    s->rev_on = 0;
}

/* The reverse table of every link with a value, as idmap_put would have kept it. */
static int rev_build(struct dryrun_state *s)
{
    s->rev_on = 1;
    for (size_t i = 0; i < s->nrecs; i++) {
        const struct rec *r = s->recs[i];
        if (!r->link || !r->c) continue;
        struct group *g = group_find(s, r->ab, r->c, 1);
        if (!g || group_add(g, r->idx)) {
            rev_clear(s);
            return oom(s);
        }
    }
    return 0;
}


/* Within an attempt, keeps what a write to r replaces; the caller then must not free r->c. */
static int keep_undo(struct dryrun_state *s, struct rec *r, int idmap)
{
    if (!s->attempt) return 0;
    if (s->nundo == s->capundo) {
        size_t cap = s->capundo ? s->capundo * 2 : 64;
        struct undo *u = realloc(s->undo, cap * sizeof *u);
        if (!u) return oom(s);
        s->undo = u;
        s->capundo = cap;
    }
    s->undo[s->nundo++] = (struct undo){ r, r->c, idmap };
    return 0;
}

static int idmap_put(void *ud, const char *kind, const char *sid, const char *oid)
{
    struct dryrun_state *s = ud;
    int err;
    struct rec *r = rec_find(s, &s->idmap, kind, sid, 1, &err);
    if (!r) return -1;
    if (r->c && strcmp(r->c, oid) == 0) return 0;
    char *c = strdup(oid);
    struct group *g = NULL;
    uint32_t idx = r->idx;
    if (!c || (s->rev_on && (!(g = group_find(s, kind, oid, 1)) || group_add(g, idx)))) {
        free(c);
        return oom(s);
    }
    if (keep_undo(s, r, 1)) {
        if (g) group_remove(g, idx);
        free(c);
        return -1;
    }
    if (r->c) {
        struct group *old = s->rev_on ? group_find(s, kind, r->c, 0) : NULL;
        if (old) group_remove(old, idx);
        if (!s->attempt) free(r->c);
    } else {
        r->seq = ++s->seq;
    }
    r->c = c;
    return 0;
}

static int idmap_get(void *ud, const char *kind, const char *id, int reverse, const char **out)
{
    struct dryrun_state *s = ud;
    *out = NULL;
    if (!reverse) {
        int err;
        struct rec *r = rec_find(s, &s->idmap, kind, id, 0, &err);
        if (!r || !r->c) return STORE_NOTFOUND;
        *out = r->c;
        return 0;
    }
    if (!s->rev_on && rev_build(s)) return -1;
    struct group *g = group_find(s, kind, id, 0);
    const struct rec *oldest = NULL;
    for (size_t i = 0; g && i < g->n; i++) {
        const struct rec *r = s->recs[g->recs[i] - 1];
        if (!oldest || r->seq < oldest->seq) oldest = r;
    }
    if (!oldest) return STORE_NOTFOUND;
    *out = oldest->ab + oldest->alen + 1;
    return 0;
}

static int kv_get(void *ud, const char *ns, const char *key, const char **value)
{
    struct dryrun_state *s = ud;
    int err;
    struct rec *r = rec_find(s, &s->kv, ns, key, 0, &err);
    *value = r ? r->c : NULL;
    return *value ? 0 : STORE_NOTFOUND;
}

/* A deleted entry keeps its record with no value: it reads as absent. */
static int kv_put(void *ud, const char *ns, const char *key, const char *value)
{
    struct dryrun_state *s = ud;
    int err;
    struct rec *r = rec_find(s, &s->kv, ns, key, value != NULL, &err);
    if (!r) return err;
    char *c = value ? strdup(value) : NULL;
    if (value && !c) return oom(s);
    if (keep_undo(s, r, 0)) {
        free(c);
        return -1;
    }
    if (!s->attempt) free(r->c);
    r->c = c;
    return 0;
}

static const char *errmsg(void *ud)
{
    struct dryrun_state *s = ud;
    return s->err ? s->err : "no error";
}

const struct rules_state_ops dryrun_state_ops = { idmap_get, idmap_put, kv_get, kv_put, errmsg };

void dryrun_state_begin(struct dryrun_state *s)
{
    dryrun_state_commit(s);
    s->attempt = 1;
}

void dryrun_state_commit(struct dryrun_state *s)
{
    for (size_t i = 0; i < s->nundo; i++) free(s->undo[i].old_c);
    s->nundo = 0;
    s->attempt = 0;
}

/* Newest first, so that each group and value is back as it was before the write that changed
 * it. A link that was new goes back to no value (absent, and aged afresh when it gets one);
 * the groups only shrink or regain what they held, so nothing here allocates. */
void dryrun_state_rollback(struct dryrun_state *s)
{
    while (s->nundo) {
        struct undo *u = &s->undo[--s->nundo];
        struct rec *r = u->r;
        if (u->idmap && s->rev_on) {
            uint32_t idx = r->idx;
            struct group *g = group_find(s, r->ab, r->c, 0);
            if (g) group_remove(g, idx);
            if (u->old_c && (g = group_find(s, r->ab, u->old_c, 0))) group_add(g, idx);
        }
        free(r->c);
        r->c = u->old_c;
    }
    s->attempt = 0;
}

struct dryrun_state *dryrun_state_new(void)
{
    return calloc(1, sizeof(struct dryrun_state));
}

void dryrun_state_free(struct dryrun_state *s)
{
    if (!s) return;
    for (size_t i = 0; i < s->nrecs; i++) {
        free(s->recs[i]->c);
        free(s->recs[i]);
    }
    rev_clear(s);
    dryrun_state_commit(s);
    free(s->undo);
    free(s->recs);
    free(s->groups);
    free(s->idmap.slot);
    free(s->kv.slot);
    free(s);
}
