/* dryrun_read: see dryrun_read.h. A line is decoded by lua_json_decode (the direct decoder) in
 * the reader's own Lua state and its strings are copied into the slot's arena; jansson parsed
 * the whole line (and each body in it again) before, which was most of the dry-run's time.
 * Lines the old jansson read would refuse are refused with jansson's own message: the Lua
 * decoder accepts a little more (a document that is a bare scalar, \u0000 in a string), so
 * those lines are checked with jansson too, and a line the Lua decoder refuses is reported
 * with jansson's message (or, nested deeper than the Lua decoder goes, read from jansson's tree).
 *
 * Threaded, the reader fills a ring of slots ahead of the caller: the rules run on one core
 * while the next lines are parsed on the other. Events come out in file order either way, so
 * the replay is the same. */
#include "dryrun_read.h"

#include "dryrun_scan.h"
#include "json_text.h"
#include "lua_json.h"
#include "rules.h"

#include <jansson.h>
#include <lauxlib.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define RING 32

/* where a string of the line goes: copied into the arena once the sizes are known */
struct ref {
    const char **dst;
    const char *src;
    size_t len;
};

struct slot {
    struct dryrun_event ev;
    char *arena;
    size_t arena_cap;
    size_t calls_cap;
    struct ref *refs;
    size_t nrefs, refs_cap;
    char problem[JSON_ERROR_TEXT_LENGTH];
    struct dryrun_prep prep;
};

struct dryrun_reader {
    FILE *in;
    lua_State *L;                /* the reader's decoding state */
    char *line;
    size_t line_cap;
    long lineno, offset;
    long end;                    /* >= 0: no line that starts at or after this offset */
    dryrun_call_filter want;     /* set: only the calls it wants, nothing else (see the .h) */
    dryrun_prepare prepare;      /* see dryrun_reader_open_prep */
    struct dryrun_scan scan;
    char *text;                  /* the wanted calls' strings, unescaped (parse_calls) */
    size_t text_cap;
    struct slot slots[RING];
    /* threaded: the reader fills slots[head % RING], the caller takes slots[tail % RING] */
    int threaded, started, done, stop, holding;
    int reader_waits, caller_waits;  /* who sleeps on a condition: only they are signalled */
    size_t head, tail;
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t can_fill, can_take;
};

static int kind_parse(const char *s)
{
    if (!s) return -1;
    if (strcmp(s, "shopify") == 0) return RULES_IO_SHOPIFY;
    if (strcmp(s, "orderez") == 0) return RULES_IO_ORDEREZ;
    if (strcmp(s, "notify") == 0) return RULES_IO_NOTIFY;
    return -1;
}

static int add_ref(struct slot *s, const char **dst, const char *src, size_t len)
{
    *dst = NULL;
    if (!src) return 0;
    if (s->nrefs == s->refs_cap) {
        size_t cap = s->refs_cap ? s->refs_cap * 2 : 64;
        struct ref *r = realloc(s->refs, cap * sizeof *r);
        if (!r) return -1;
        s->refs = r;
        s->refs_cap = cap;
    }
    s->refs[s->nrefs++] = (struct ref){ dst, src, len };
    return 0;
}

/* Copies the referenced strings into the arena (grown when short) and points the fields at
 * them; then the calls' kinds can be read. */
static int copy_refs(struct slot *s)
{
    size_t total = 0;
    for (size_t i = 0; i < s->nrefs; i++) total += s->refs[i].len + 1;
    if (total > s->arena_cap) {
        char *a = realloc(s->arena, total);
        if (!a) return -1;
        s->arena = a;
        s->arena_cap = total;
    }
    char *o = s->arena;
    for (size_t i = 0; i < s->nrefs; i++) {
        memcpy(o, s->refs[i].src, s->refs[i].len);
        o[s->refs[i].len] = '\0';
        *s->refs[i].dst = o;
        o += s->refs[i].len + 1;
    }
    for (size_t i = 0; i < s->ev.ncalls; i++) s->ev.calls[i].kind = kind_parse(s->ev.calls[i].kind_name);
    return 0;
}

static int reserve_calls(struct slot *s, size_t n)
{
    if (n <= s->calls_cap) return 0;
    struct dryrun_call *c = realloc(s->ev.calls, n * sizeof *c);
    if (!c) return -1;
    s->ev.calls = c;
    s->calls_cap = n;
    return 0;
}

/* ---- from the Lua decoding ---- */

/* Decoded objects have no metatable; arrays carry the marker. */
static int is_object(lua_State *L, int idx)
{
    if (!lua_istable(L, idx)) return 0;
    if (!lua_getmetatable(L, idx)) return 1;
    lua_pop(L, 1);
    return 0;
}

static int is_array(lua_State *L, int idx)
{
    return lua_istable(L, idx) && !is_object(L, idx);
}

/* The string at t[k] (NULL: absent or another type, as json_string_value), kept alive by t. */
static const char *lstr(lua_State *L, int t, const char *k, size_t *len)
{
    const char *s = NULL;
    if (lua_getfield(L, t, k) == LUA_TSTRING) s = lua_tolstring(L, -1, len);
    lua_pop(L, 1);
    return s;
}

static int64_t lint(lua_State *L, int t, const char *k)
{
    lua_getfield(L, t, k);
    int64_t v = lua_isinteger(L, -1) ? (int64_t)lua_tointeger(L, -1) : 0;
    lua_pop(L, 1);
    return v;
}

static int ref_field(struct slot *s, lua_State *L, int t, const char *k, const char **dst)
{
    size_t len = 0;
    const char *v = lstr(L, t, k, &len);
    return add_ref(s, dst, v, len);
}

/* Fills the event from the decoded line at index 1. -1 on no memory. */
static int from_lua(struct slot *s, lua_State *L)
{
    struct dryrun_event *ev = &s->ev;
    int line_obj = is_object(L, 1);
    if (line_obj) lua_getfield(L, 1, "calls");
    else lua_pushnil(L);
    int calls_present = !lua_isnil(L, -1), calls_ok = is_array(L, -1);       /* 2 */
    if (line_obj) lua_getfield(L, 1, "event");
    else lua_pushnil(L);                                                     /* 3 */
    if (line_obj) lua_getfield(L, 1, "job");
    else lua_pushnil(L);                                                     /* 4 */
    if (calls_ok) {
        size_t n = lua_rawlen(L, 2);
        if (reserve_calls(s, n)) return -1;
        for (size_t i = 0; i < n; i++) {
            struct dryrun_call *c = &ev->calls[i];
            memset(c, 0, sizeof *c);
            lua_rawgeti(L, 2, (lua_Integer)i + 1);
            if (is_object(L, -1)) { /* an element of another type has no fields, as in jansson */
                int t = lua_gettop(L);
                c->status = lint(L, t, "status");
                if (ref_field(s, L, t, "kind", &c->kind_name) ||
                    ref_field(s, L, t, "method", &c->method) || ref_field(s, L, t, "path", &c->path) ||
                    ref_field(s, L, t, "body", &c->body) || ref_field(s, L, t, "response", &c->response))
                    return -1;
            }
            lua_pop(L, 1);
        }
        ev->ncalls = n;
    }
    if (is_object(L, 4)) ev->job_id = lint(L, 4, "id");
    if (!is_object(L, 3)) {
        ev->problem = "no \"event\" object";
    } else {
        ev->id = lint(L, 3, "id");
        ev->received_at = lint(L, 3, "received_at");
        if (ref_field(s, L, 3, "source", &ev->source) || ref_field(s, L, 3, "topic", &ev->topic) ||
            ref_field(s, L, 3, "body", &ev->body))
            return -1;
        size_t slen = 0;
        const char *src = lstr(L, 3, "source", &slen);
        if (!src || !lstr(L, 3, "topic", NULL) || !lstr(L, 3, "body", NULL))
            ev->problem = "event needs string source, topic and body";
        else if (strspn(src, "abcdefghijklmnopqrstuvwxyz_") != strlen(src))
            ev->problem = "event source must be a lower-case name";
        else if (calls_present && !calls_ok)
            ev->problem = "\"calls\" must be an array";
    }
    return copy_refs(s);
}

/* ---- from a jansson tree: only for a line nested deeper than the Lua decoder goes ---- */

static const char *jstr(json_t *o, const char *k, size_t *len)
{
    json_t *v = json_object_get(o, k);
    if (len) *len = json_string_length(v);
    return json_string_value(v);
}

static int jref(struct slot *s, json_t *o, const char *k, const char **dst)
{
    size_t len = 0;
    const char *v = jstr(o, k, &len);
    return add_ref(s, dst, v, v ? strlen(v) : 0); /* C strings, as the old reader used them */
}

static int from_tree(struct slot *s, json_t *line)
{
    struct dryrun_event *ev = &s->ev;
    json_t *calls = json_object_get(line, "calls"), *e = json_object_get(line, "event");
    size_t i;
    json_t *c;
    if (json_is_array(calls)) {
        if (reserve_calls(s, json_array_size(calls))) return -1;
        json_array_foreach(calls, i, c) {
            struct dryrun_call *dc = &ev->calls[i];
            memset(dc, 0, sizeof *dc);
            dc->status = json_integer_value(json_object_get(c, "status"));
            if (jref(s, c, "kind", &dc->kind_name) || jref(s, c, "method", &dc->method) ||
                jref(s, c, "path", &dc->path) || jref(s, c, "body", &dc->body) ||
                jref(s, c, "response", &dc->response))
                return -1;
        }
        ev->ncalls = json_array_size(calls);
    }
    ev->job_id = json_integer_value(json_object_get(json_object_get(line, "job"), "id"));
    if (!json_is_object(e)) {
        ev->problem = "no \"event\" object";
    } else {
        ev->id = json_integer_value(json_object_get(e, "id"));
        ev->received_at = json_integer_value(json_object_get(e, "received_at"));
        if (jref(s, e, "source", &ev->source) || jref(s, e, "topic", &ev->topic) ||
            jref(s, e, "body", &ev->body))
            return -1;
        const char *src = jstr(e, "source", NULL);
        if (!src || !jstr(e, "topic", NULL) || !jstr(e, "body", NULL))
            ev->problem = "event needs string source, topic and body";
        else if (strspn(src, "abcdefghijklmnopqrstuvwxyz_") != strlen(src))
            ev->problem = "event source must be a lower-case name";
        else if (calls && !json_is_array(calls))
            ev->problem = "\"calls\" must be an array";
    }
    return copy_refs(s);
}

/* ---- one line ---- */

struct decode_args {
    const char *s;
    size_t len;
    int nul;        /* out: a string of the line held \u0000 */
};

static int decode_line(lua_State *L)
{
    struct decode_args *a = lua_touserdata(L, 1);
    lua_settop(L, 0);
    lua_json_decode_nul(L, a->s, a->len, &a->nul);
    return 1;
}

/* The line as the old reader saw it: jansson, objects and arrays only, no \u0000. NULL with
 * problem set when jansson refuses it. */
static json_t *jansson_line(struct slot *s, const char *buf, size_t len)
{
    json_error_t jerr;
    json_t *line = json_loadb(buf, len, 0, &jerr);
    if (!line) {
        snprintf(s->problem, sizeof s->problem, "%s", jerr.text);
        s->ev.problem = s->problem;
    }
    return line;
}

/* ---- only the calls a filter wants, from a line dryrun_scan vouched for ----
 * Straight from the line's text, without Lua: the scan checked every string and number, so a
 * string field is unescaped by the decoder's own rules (json_unescape) and a status is read as
 * the decoder reads an integer. Each value reads as from_lua reads it: a field of another type
 * is NULL / 0. */

/* The string at f (NULL when absent or not a string), unescaped and terminated at *o. The
 * scan checked it; should it still not unescape, *bad is set and the line is read in full. */
static const char *span_str(const struct dryrun_span *f, char **o, size_t *len, int *bad)
{
    if (!f->s || f->s[0] != '"') return NULL;
    const unsigned char *s = (const unsigned char *)f->s + 1, *q = s + f->n - 2;
    long n = json_unescape(s, q, (unsigned char *)*o, 0);
    if (n < 0) {
        *bad = 1;
        return NULL;
    }
    char *v = *o;
    v[n] = '\0';
    *o += n + 1;
    *len = (size_t)n;
    return v;
}

/* An integer (no fraction; the scan refuses exponents and integers beyond int64), else 0. */
static int64_t span_int(const struct dryrun_span *f)
{
    if (!f->s || memchr(f->s, '.', f->n) || (f->s[0] != '-' && (f->s[0] < '0' || f->s[0] > '9')))
        return 0;
    int neg = f->s[0] == '-';
    uint64_t u = 0;
    for (size_t i = (size_t)neg; i < f->n; i++) u = u * 10 + (uint64_t)(f->s[i] - '0');
    return !neg ? (int64_t)u : u > (uint64_t)INT64_MAX ? INT64_MIN : -(int64_t)u;
}

/* 1 when the line's wanted calls are in s; 0: read it the full way. */
static int parse_calls(struct dryrun_reader *r, struct slot *s, const char *buf, size_t len)
{
    const struct dryrun_scan *sc = &r->scan;
    if (!dryrun_scan_line(&r->scan, buf, len)) return 0;
    /* the strings, unescaped and terminated, fit in as many bytes as the line: the spans do */
    if (len + 1 > r->text_cap) {
        char *t = realloc(r->text, len + 1);
        if (!t) return 0; /* the full read meets the same shortage and says so its own way */
        r->text = t;
        r->text_cap = len + 1;
    }
    if (reserve_calls(s, sc->ncalls)) return 0;
    char *o = r->text;
    size_t n = 0;
    int bad = 0;
    for (size_t i = 0; i < sc->ncalls; i++) {
        const struct dryrun_span *f = sc->calls[i].f;
        size_t l[DRYRUN_NFIELDS] = { 0 };
        const char *v[DRYRUN_NFIELDS];
        for (int k = 0; k < DRYRUN_NFIELDS; k++) v[k] = NULL;
        v[DRYRUN_F_KIND] = span_str(&f[DRYRUN_F_KIND], &o, &l[DRYRUN_F_KIND], &bad);
        v[DRYRUN_F_METHOD] = span_str(&f[DRYRUN_F_METHOD], &o, &l[DRYRUN_F_METHOD], &bad);
        v[DRYRUN_F_BODY] = span_str(&f[DRYRUN_F_BODY], &o, &l[DRYRUN_F_BODY], &bad);
        if (bad) goto refuse;
        if (!r->want(kind_parse(v[DRYRUN_F_KIND]), v[DRYRUN_F_METHOD], v[DRYRUN_F_BODY])) continue;
        v[DRYRUN_F_PATH] = span_str(&f[DRYRUN_F_PATH], &o, &l[DRYRUN_F_PATH], &bad);
        v[DRYRUN_F_RESPONSE] = span_str(&f[DRYRUN_F_RESPONSE], &o, &l[DRYRUN_F_RESPONSE], &bad);
        struct dryrun_call *c = &s->ev.calls[n++];
        memset(c, 0, sizeof *c);
        c->status = span_int(&f[DRYRUN_F_STATUS]);
        if (bad) goto refuse;
        if (add_ref(s, &c->kind_name, v[DRYRUN_F_KIND], l[DRYRUN_F_KIND]) ||
            add_ref(s, &c->method, v[DRYRUN_F_METHOD], l[DRYRUN_F_METHOD]) ||
            add_ref(s, &c->path, v[DRYRUN_F_PATH], l[DRYRUN_F_PATH]) ||
            add_ref(s, &c->body, v[DRYRUN_F_BODY], l[DRYRUN_F_BODY]) ||
            add_ref(s, &c->response, v[DRYRUN_F_RESPONSE], l[DRYRUN_F_RESPONSE]))
            goto refuse;
    }
    s->ev.ncalls = n;
    if (copy_refs(s)) goto refuse;
    return 1;
refuse: /* out of memory, or a string the unescape refused after all: the full read decides */
    s->nrefs = 0;
    s->ev.ncalls = 0;
    return 0;
}

/* 1 when the whole event is in s, read from the line's text as from_lua reads the decoded line
 * (dryrun_scan_event_line vouched for it; a field of another type is NULL / 0); 0: read it the
 * full way. The strings are unescaped straight into the slot's arena: they fit in as many
 * bytes as the line, quotes and all. Decoding into Lua, then copying the strings out, cost
 * 42k instructions more per 13 KB line (the unescape itself is most of what remains). */
static int parse_whole(struct dryrun_reader *r, struct slot *s, const char *buf, size_t len)
{
    const struct dryrun_scan *sc = &r->scan;
    if (!dryrun_scan_event_line(&r->scan, buf, len)) return 0;
    if (len + 1 > s->arena_cap) {
        char *a = realloc(s->arena, len + 1);
        if (!a) return 0; /* the full read meets the same shortage and says so its own way */
        s->arena = a;
        s->arena_cap = len + 1;
    }
    if (reserve_calls(s, sc->ncalls)) return 0;
    char *o = s->arena;
    size_t l;
    int bad = 0;
    for (size_t i = 0; i < sc->ncalls; i++) {
        const struct dryrun_span *f = sc->calls[i].f;
        struct dryrun_call *c = &s->ev.calls[i];
        memset(c, 0, sizeof *c);
        c->kind_name = span_str(&f[DRYRUN_F_KIND], &o, &l, &bad);
        c->method = span_str(&f[DRYRUN_F_METHOD], &o, &l, &bad);
        c->path = span_str(&f[DRYRUN_F_PATH], &o, &l, &bad);
        c->body = span_str(&f[DRYRUN_F_BODY], &o, &l, &bad);
        c->response = span_str(&f[DRYRUN_F_RESPONSE], &o, &l, &bad);
        c->status = span_int(&f[DRYRUN_F_STATUS]);
        c->kind = kind_parse(c->kind_name);
    }
    const struct dryrun_span *e = sc->event;
    struct dryrun_event *ev = &s->ev;
    ev->ncalls = sc->ncalls;
    ev->id = span_int(&e[DRYRUN_E_ID]);
    ev->received_at = span_int(&e[DRYRUN_E_RECEIVED_AT]);
    ev->job_id = span_int(&sc->job_id);
    ev->source = span_str(&e[DRYRUN_E_SOURCE], &o, &l, &bad);
    ev->topic = span_str(&e[DRYRUN_E_TOPIC], &o, &l, &bad);
    ev->body = span_str(&e[DRYRUN_E_BODY], &o, &l, &bad);
    if (!bad && strspn(ev->source, "abcdefghijklmnopqrstuvwxyz_") == strlen(ev->source)) return 1;
    /* a string the unescape refused after all, or a source the full read words a problem for */
    ev->ncalls = 0;
    ev->id = ev->received_at = ev->job_id = 0;
    ev->source = ev->topic = ev->body = NULL;
    return 0;
}

static void parse_line(struct dryrun_reader *r, struct slot *s, const char *buf, size_t len)
{
    lua_State *L = r->L;
    struct decode_args a = { buf, len, 0 };
    s->nrefs = 0;
    s->ev.problem = NULL;
    s->ev.ncalls = 0;
    s->ev.id = s->ev.received_at = s->ev.job_id = 0;
    s->ev.source = s->ev.topic = s->ev.body = NULL;
    if (r->want ? parse_calls(r, s, buf, len) : parse_whole(r, s, buf, len)) return;
    lua_settop(L, 0);
    lua_pushcfunction(L, decode_line);
    lua_pushlightuserdata(L, &a);
    int ok = lua_pcall(L, 1, 1, 0) == LUA_OK;
    /* the decoder says whether a string held \u0000: a search of the line for it was ~8 % of
     * the reader's time (the body is one long string, escapes everywhere) */
    if (!ok || !lua_istable(L, 1) || a.nul) {
        json_t *line = jansson_line(s, buf, len);
        if (line && !ok && from_tree(s, line)) s->ev.problem = "out of memory";
        json_decref(line);
        if (!ok || s->ev.problem) goto out;
    }
    if (from_lua(s, L)) s->ev.problem = "out of memory";
out:
    lua_settop(L, 0);
}

void dryrun_doc_lend(void *owner, int delta)
{
    struct dryrun_doc *d = owner;
    if (delta > 0) {
        atomic_fetch_add_explicit(&d->refs, delta, memory_order_relaxed);
        return;
    }
    /* acq_rel: a holder's reads of the doc happen before its reuse (own_doc) or free */
    if (atomic_fetch_sub_explicit(&d->refs, 1, memory_order_acq_rel) == 1) {
        free(d->text);
        json_tape_free(&d->tape);
        free(d);
    }
}

/* The slot's doc, for prepare to write: the last one when no document holds it any more, else
 * a new one with the last one's room (it grows no further). NULL on no memory. */
static struct dryrun_doc *own_doc(struct slot *s)
{
    struct dryrun_doc *d = s->prep.doc, *n;
    if (d && atomic_load_explicit(&d->refs, memory_order_acquire) == 1) return d;
    if ((n = calloc(1, sizeof *n))) {
        atomic_init(&n->refs, 1);
        if (d && d->cap && (n->text = malloc(d->cap))) n->cap = d->cap;
        if (d) json_tape_reserve(&n->tape, d->tape.tok_cap, d->tape.bytes_cap); /* a hint */
    }
    if (d) dryrun_doc_lend(d, -1);
    return s->prep.doc = n;
}

/* Reads and parses the next non-blank line into s; 0 at the end of the input. */
static int read_one(struct dryrun_reader *r, struct slot *s)
{
    ssize_t len;
    while ((r->end < 0 || r->offset < r->end) &&
           (len = getline(&r->line, &r->line_cap, r->in)) > 0) {
        r->lineno++;
        r->offset += len;
        if (len == 1 && r->line[0] == '\n') continue;
        s->ev.lineno = r->lineno;
        s->ev.offset = r->offset;
        parse_line(r, s, r->line, (size_t)len);
        s->ev.prep = NULL;
        if (r->prepare && !s->ev.problem && own_doc(s)) {
            r->prepare(&s->ev, &s->prep);
            s->ev.prep = &s->prep;
        }
        return 1;
    }
    return 0;
}

static void *reader_main(void *arg)
{
    struct dryrun_reader *r = arg;
    pthread_setname_np(pthread_self(), "ez-dryrun-read");
    for (;;) {
        pthread_mutex_lock(&r->mu);
        while (r->head - r->tail == RING && !r->stop) {
            r->reader_waits = 1;
            pthread_cond_wait(&r->can_fill, &r->mu);
        }
        r->reader_waits = 0;
        if (r->stop) {
            pthread_mutex_unlock(&r->mu);
            return NULL;
        }
        struct slot *s = &r->slots[r->head % RING];
        pthread_mutex_unlock(&r->mu);
        int more = read_one(r, s);
        pthread_mutex_lock(&r->mu);
        if (more) r->head++;
        /* the replay stops at a bad line: reading further is wasted */
        if (!more || s->ev.problem) r->done = 1;
        if (r->caller_waits) pthread_cond_signal(&r->can_take);
        pthread_mutex_unlock(&r->mu);
        if (r->done) return NULL;
    }
}

struct dryrun_reader *dryrun_reader_open(FILE *in, int threaded)
{
    return dryrun_reader_open_prep(in, threaded, NULL);
}

struct dryrun_reader *dryrun_reader_open_prep(FILE *in, int threaded, dryrun_prepare prepare)
{
    struct dryrun_reader *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->in = in;
    r->prepare = prepare;
    r->end = -1;
    r->L = luaL_newstate();
    if (!r->L) {
        free(r);
        return NULL;
    }
    r->threaded = threaded;
    if (threaded) {
        pthread_mutex_init(&r->mu, NULL);
        pthread_cond_init(&r->can_fill, NULL);
        pthread_cond_init(&r->can_take, NULL);
        /* without a thread (none to be had) it reads in the caller's thread */
        r->started = pthread_create(&r->th, NULL, reader_main, r) == 0;
        if (!r->started) r->threaded = 0;
    }
    return r;
}

struct dryrun_event *dryrun_reader_next(struct dryrun_reader *r)
{
    if (!r->threaded) {
        if (r->done || !read_one(r, &r->slots[0])) {
            r->done = 1;
            return NULL;
        }
        return &r->slots[0].ev;
    }
    pthread_mutex_lock(&r->mu);
    if (r->holding) { /* the caller is done with the previous event: its slot is free */
        r->tail++;
        r->holding = 0;
        /* a waiting reader is woken once half the ring is free: one wake-up per RING/2
         * events instead of one per event */
        if (r->reader_waits && (r->head - r->tail <= RING / 2 || r->done))
            pthread_cond_signal(&r->can_fill);
    }
    while (r->tail == r->head && !r->done) {
        r->caller_waits = 1;
        pthread_cond_wait(&r->can_take, &r->mu);
    }
    r->caller_waits = 0;
    struct dryrun_event *ev = NULL;
    if (r->tail != r->head) {
        ev = &r->slots[r->tail % RING].ev;
        r->holding = 1;
    }
    pthread_mutex_unlock(&r->mu);
    return ev;
}

void dryrun_reader_close(struct dryrun_reader *r)
{
    if (!r) return;
    if (r->started) {
        pthread_mutex_lock(&r->mu);
        r->stop = 1;
        pthread_cond_signal(&r->can_fill);
        pthread_mutex_unlock(&r->mu);
        pthread_join(r->th, NULL);
    }
    if (r->threaded || r->started) {
        pthread_mutex_destroy(&r->mu);
        pthread_cond_destroy(&r->can_fill);
        pthread_cond_destroy(&r->can_take);
    }
    for (size_t i = 0; i < RING; i++) {
        free(r->slots[i].arena);
        free(r->slots[i].refs);
        free(r->slots[i].ev.calls);
        if (r->slots[i].prep.doc) dryrun_doc_lend(r->slots[i].prep.doc, -1);
        for (size_t k = 0; k < r->slots[i].prep.responses_cap; k++)
            json_tape_free(&r->slots[i].prep.responses[k]);
        free(r->slots[i].prep.responses);
    }
    free(r->line);
    free(r->text);
    dryrun_scan_free(&r->scan);
    lua_close(r->L);
    free(r);
}

/* ---- GraphQL operation names ---- */

static int decode_query(lua_State *L)
{
    const char *body = lua_touserdata(L, 1);
    lua_settop(L, 0);
    lua_json_decode(L, body, strlen(body));
    /* jansson's json_loads(body, 0) took objects and arrays only; "query" of an array is absent */
    if (lua_istable(L, 1) && !lua_getmetatable(L, 1) && lua_getfield(L, 1, "query") == LUA_TSTRING)
        return 1;
    lua_pushnil(L);
    return 1;
}

static void trim_operation(const char *q, char *out, size_t n)
{
    while (*q == ' ' || *q == '\n' || *q == '\t') q++;
    size_t len = strcspn(q, "({");
    while (len > 0 && (q[len - 1] == ' ' || q[len - 1] == '\n')) len--;
    snprintf(out, n, "%.*s", (int)(len < n ? len : n - 1), q);
}

void dryrun_operation_name(struct lua_State *L, const char *body, char *out, size_t n)
{
    out[0] = '\0';
    if (!body) return;
    int top = lua_gettop(L);
    lua_pushcfunction(L, decode_query);
    lua_pushlightuserdata(L, (void *)body);
    /* jansson refused \u0000 and took what the Lua decoder does not (nesting beyond 128):
     * such a body goes to jansson as before */
    if (lua_pcall(L, 1, 1, 0) == LUA_OK && !strstr(body, "\\u0000")) {
        if (lua_isstring(L, -1)) trim_operation(lua_tostring(L, -1), out, n);
    } else {
        json_t *b = json_loads(body, 0, NULL);
        const char *q = json_string_value(json_object_get(b, "query"));
        if (q) trim_operation(q, out, n);
        json_decref(b);
    }
    lua_settop(L, top);
}

void dryrun_reader_only_calls(struct dryrun_reader *r, dryrun_call_filter want)
{
    r->want = want;
}

int dryrun_reader_range(struct dryrun_reader *r, long start, long end)
{
    if (r->threaded || fseek(r->in, start > 0 ? start - 1 : 0, SEEK_SET)) return -1;
    r->offset = start;
    r->end = end;
    if (start > 0) { /* the line that starts before start belongs to the range before */
        int c = getc(r->in);
        if (c != '\n') {
            ssize_t len = getline(&r->line, &r->line_cap, r->in);
            r->offset += len > 0 ? len : 0;
        }
    }
    return 0;
}
