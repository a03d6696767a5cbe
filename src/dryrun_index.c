/* dryrun_index: see dryrun_index.h. */
#include "dryrun_index.h"

#include "dryrun_report.h"
#include "rules.h"

#include <jansson.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The lines that start in [start, end) of the file, indexed. */
struct chunk {
    long start, end;
    json_t *map;                 /* signature -> index in calls */
    struct dryrun_call *calls;   /* copies: strings owned */
    size_t n, cap;
    int state;                   /* under the mutex: 0 waiting, 1 being built, 2 built */
};

struct dryrun_index {
    const char *path;
    struct chunk *chunks;
    int nchunks;
    int next;                    /* the last chunk not yet taken (-1: all taken); under mu */
    int stop;                    /* under mu: builders take no further chunk */
    /* Under mu: the chunks from merged on, as one map: a chunk goes in (and its own map and
     * copies go) once it and every chunk after it are built, keeping only the recordings the
     * chunks after it do not override. So the index holds about one copy of each read, not
     * one per chunk it recurs in (bench/dryrun's 100,000 events: a peak of 58 MB with a map
     * per chunk, 47-49 MB so). The entries are allocated one by one: what a lookup returned
     * stays where it is while later chunks merge. */
    int merged;
    json_t *map;                 /* signature -> index in calls */
    struct dryrun_call **calls;
    size_t n, cap;
    pthread_mutex_t mu;
    pthread_cond_t built;        /* a chunk was built */
    pthread_t th[DRYRUN_INDEX_THREADS];
    int nthreads;
    int want;                    /* builders to start once a lookup needs more than the last
                                  * chunk (start_builders) */
};

static const char *kind_name(int k)
{
    return k == RULES_IO_SHOPIFY ? "shopify" : k == RULES_IO_ORDEREZ ? "orderez" : "notify";
}

static int is_read(int kind, const char *method, const char *body)
{
    return dryrun_is_read(kind_name(kind), method, body);
}

static char *signature(int kind, const char *method, const char *path, const char *body)
{
    char *sig = NULL;
    if (asprintf(&sig, "%d\x1f%s\x1f%s\x1f%s", kind, method ? method : "",
                 kind == RULES_IO_SHOPIFY ? "" : (path ? path : ""), body ? body : "") < 0)
        return NULL;
    return sig;
}

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

static void call_clear(struct dryrun_call *d)
{
    free((char *)d->kind_name);
    free((char *)d->method);
    free((char *)d->path);
    free((char *)d->body);
    free((char *)d->response);
    memset(d, 0, sizeof *d);
}

/* The slot for sig in c (a fresh one, or the one it had: the later recording replaces it). */
static struct dryrun_call *chunk_slot(struct chunk *c, const char *sig)
{
    json_t *at = json_object_get(c->map, sig);
    if (at) {
        struct dryrun_call *d = &c->calls[json_integer_value(at)];
        call_clear(d);
        return d;
    }
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 256;
        struct dryrun_call *a = realloc(c->calls, cap * sizeof *a);
        if (!a) return NULL;
        c->calls = a;
        c->cap = cap;
    }
    if (json_object_set_new(c->map, sig, json_integer((json_int_t)c->n))) return NULL;
    return &c->calls[c->n++];
}

static void chunk_add(struct chunk *c, const struct dryrun_call *call)
{
    char *sig = signature(call->kind, call->method, call->path, call->body);
    struct dryrun_call *d = sig ? chunk_slot(c, sig) : NULL;
    free(sig);
    if (!d) return;
    memset(d, 0, sizeof *d);
    d->kind = call->kind;
    d->status = call->status;
    d->kind_name = dup_or_null(call->kind_name);
    d->method = dup_or_null(call->method);
    d->path = dup_or_null(call->path);
    d->body = dup_or_null(call->body);
    d->response = dup_or_null(call->response);
}

/* Every line's calls count, even a line the replay would refuse (as in the full read). */
static void chunk_build(const char *path, struct chunk *c)
{
    c->map = json_object();
    FILE *f = fopen(path, "r");
    struct dryrun_reader *rd = f && c->map ? dryrun_reader_open(f, 0) : NULL;
    if (rd && dryrun_reader_range(rd, c->start, c->end)) {
        dryrun_reader_close(rd);
        rd = NULL;
    }
    if (rd) dryrun_reader_only_calls(rd, is_read);
    struct dryrun_event *ev;
    while (rd && (ev = dryrun_reader_next(rd)) != NULL)
        for (size_t i = 0; i < ev->ncalls; i++)
            if (is_read(ev->calls[i].kind, ev->calls[i].method, ev->calls[i].body))
                chunk_add(c, &ev->calls[i]);
    dryrun_reader_close(rd);
    if (f) fclose(f);
}

static void chunk_free(struct chunk *c)
{
    for (size_t k = 0; k < c->n; k++) call_clear(&c->calls[k]);
    free(c->calls);
    json_decref(c->map);
    c->calls = NULL;
    c->map = NULL;
    c->n = c->cap = 0;
}

/* With the mutex held: chunk c (every chunk after it in already) into the merged map. A read
 * the later chunks recorded keeps their recording; the rest move over. Out of memory, a read
 * is dropped (as chunk_add drops it): it then reads as recorded nowhere. */
static void merge(struct dryrun_index *ix, struct chunk *c)
{
    const char *sig;
    json_t *at;
    if (!ix->map) ix->map = json_object();
    json_object_foreach(c->map, sig, at) {
        struct dryrun_call *src = &c->calls[json_integer_value(at)];
        if (!ix->map || json_object_get(ix->map, sig)) continue;
        if (ix->n == ix->cap) {
            size_t cap = ix->cap ? ix->cap * 2 : 256;
            struct dryrun_call **a = realloc(ix->calls, cap * sizeof *a);
            if (!a) continue;
            ix->calls = a;
            ix->cap = cap;
        }
        struct dryrun_call *d = malloc(sizeof *d);
        if (!d || json_object_set_new(ix->map, sig, json_integer((json_int_t)ix->n))) {
            free(d);
            continue;
        }
        *d = *src; /* moved: the strings change hands */
        memset(src, 0, sizeof *src);
        ix->calls[ix->n++] = d;
    }
    chunk_free(c);
}

/* With the mutex held: takes the last chunk not yet taken and builds it (without the mutex),
 * then merges what it can. 0 when none was left. */
static int build_next(struct dryrun_index *ix)
{
    if (ix->next < 0 || ix->stop) return 0;
    struct chunk *c = &ix->chunks[ix->next--];
    c->state = 1;
    pthread_mutex_unlock(&ix->mu);
    chunk_build(ix->path, c);
    pthread_mutex_lock(&ix->mu);
    c->state = 2;
    while (ix->merged > 0 && ix->chunks[ix->merged - 1].state == 2)
        merge(ix, &ix->chunks[--ix->merged]);
    pthread_cond_broadcast(&ix->built);
    return 1;
}

static void *builder(void *arg)
{
    struct dryrun_index *ix = arg;
    pthread_setname_np(pthread_self(), "ez-dryrun-index");
    /* Background work: a core only when the replay leaves one idle. At normal priority the
     * builders took CPU from the rules thread, which bounds the run; a lookup that waits for
     * a chunk leaves its core idle, and builds chunks itself meanwhile. */
    struct sched_param sp = { 0 };
    pthread_setschedparam(pthread_self(), SCHED_IDLE, &sp);
    pthread_mutex_lock(&ix->mu);
    while (build_next(ix)) {
    }
    pthread_mutex_unlock(&ix->mu);
    return NULL;
}

struct dryrun_index *dryrun_index_new(const char *path, long size, int threads)
{
    struct dryrun_index *ix = calloc(1, sizeof *ix);
    if (!ix) return NULL;
    ix->path = path;
    ix->nchunks = size >= DRYRUN_INDEX_CHUNKS ? DRYRUN_INDEX_CHUNKS : 1;
    if (!(ix->chunks = calloc((size_t)ix->nchunks, sizeof *ix->chunks))) {
        free(ix);
        return NULL;
    }
    for (int i = 0; i < ix->nchunks; i++) {
        ix->chunks[i].start = ix->nchunks == 1 ? 0 : size / ix->nchunks * i;
        ix->chunks[i].end = i == ix->nchunks - 1 ? -1 : size / ix->nchunks * (i + 1);
    }
    ix->next = ix->nchunks - 1;
    ix->merged = ix->nchunks;
    pthread_mutex_init(&ix->mu, NULL);
    pthread_cond_init(&ix->built, NULL);
    ix->want = threads > DRYRUN_INDEX_THREADS ? DRYRUN_INDEX_THREADS : threads;
    return ix;
}

/* When a lookup needs a second chunk: the first one it needs, the file's last, the lookup builds
 * itself. A replay whose reads are all in their own events' recordings never builds the index;
 * one whose missing reads were recorded again near the end (bench/dryrun's: its last events
 * repeat its first customers' lookups) reads 1/16 of the file a second time, not all of it.
 * Idle-priority builders still took ~10 % from the replay: they stream the whole file through
 * the caches and memory the rule thread works in (bench/dryrun: 18.4-21.0k events/s with them
 * from the start, 20.7-23.4k without, alternating). */
static void start_builders(struct dryrun_index *ix)
{
    for (int i = 0; i < ix->want; i++) /* one that does not start leaves its share to the rest */
        if (pthread_create(&ix->th[ix->nthreads], NULL, builder, ix) == 0) ix->nthreads++;
    ix->want = 0;
}

const struct dryrun_call *dryrun_index_find(struct dryrun_index *ix, int kind, const char *method,
                                            const char *path, const char *body)
{
    if (!ix || !is_read(kind, method, body)) return NULL;
    char *sig = signature(kind, method, path, body);
    if (!sig) return NULL;
    const struct dryrun_call *found = NULL;
    pthread_mutex_lock(&ix->mu);
    /* The merged map covers the chunks from merged on; a miss there waits for the chunk
     * before them (building it here when no builder has taken it yet: the chunks before it
     * may never be needed, so this does not build those). */
    for (int looked = ix->nchunks + 1;;) {
        if (ix->merged < looked) {
            json_t *at = ix->map ? json_object_get(ix->map, sig) : NULL;
            if (at) {
                found = ix->calls[json_integer_value(at)];
                break;
            }
            looked = ix->merged;
        }
        if (ix->merged == 0) break;
        int i = ix->merged - 1;
        if (ix->want && i < ix->nchunks - 1) start_builders(ix);
        if (ix->chunks[i].state == 1 || ix->next != i || !build_next(ix))
            pthread_cond_wait(&ix->built, &ix->mu);
    }
    pthread_mutex_unlock(&ix->mu);
    free(sig);
    return found;
}

void dryrun_index_free(struct dryrun_index *ix)
{
    if (!ix) return;
    pthread_mutex_lock(&ix->mu);
    ix->stop = 1;
    pthread_mutex_unlock(&ix->mu);
    for (int i = 0; i < ix->nthreads; i++) pthread_join(ix->th[i], NULL);
    for (int i = 0; i < ix->nchunks; i++) chunk_free(&ix->chunks[i]);
    free(ix->chunks);
    for (size_t k = 0; k < ix->n; k++) {
        call_clear(ix->calls[k]);
        free(ix->calls[k]);
    }
    free(ix->calls);
    json_decref(ix->map);
    pthread_mutex_destroy(&ix->mu);
    pthread_cond_destroy(&ix->built);
    free(ix);
}
