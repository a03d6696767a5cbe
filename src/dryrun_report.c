/* dryrun_report: see dryrun_report.h. Every line it prints is deterministic for the same
 * recording and rules (no times, no addresses), so --json output works as a golden file. */
#include "dryrun_report.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

struct dryrun_report {
    struct dryrun_opts o;
    FILE *expect;
    long expect_line;
    int expect_diffs;
    int64_t events, done, failed, skipped, norule, calls, writes, unanswered, changed, reruns;
    int64_t by_kind[3];
    struct timespec t0;
    int tty;
    long last_pct;
};

static const char *kinds[] = { "shopify", "orderez", "notify" };

int dryrun_is_read(const char *kind, const char *method, const char *body)
{
    if (!kind) return 0;
    if (strcmp(kind, "orderez") == 0) return method && strcmp(method, "GET") == 0;
    if (strcmp(kind, "shopify") == 0) return body && !strstr(body, "mutation");
    return 0;
}

/* Appends s with its NUL; the offset, or DRYRUN_NONE for NULL. */
static size_t put_text(struct dryrun_entry *e, const char *s)
{
    if (!s) return DRYRUN_NONE;
    size_t at = e->text.len;
    strbuf_put(&e->text, s, strlen(s) + 1);
    return at;
}

static const char *text_at(const struct dryrun_entry *e, size_t off)
{
    return off == DRYRUN_NONE || e->text.oom ? NULL : e->text.p + off;
}

static int reserve(void **a, size_t n, size_t *cap, size_t size)
{
    if (n < *cap) return 0;
    size_t c = *cap ? *cap * 2 : 16;
    void *p = realloc(*a, c * size);
    if (!p) return -1;
    *a = p;
    *cap = c;
    return 0;
}

void dryrun_entry_add_call(struct dryrun_entry *e, const char *kind, const char *method,
                           const char *path, const char *body, int step, const char *answer)
{
    if (reserve((void **)&e->calls, e->ncalls, &e->capcalls, sizeof *e->calls)) {
        e->oom = 1;
        return;
    }
    struct dryrun_entry_call *c = &e->calls[e->ncalls++];
    c->step = step;
    c->kind = put_text(e, kind);
    c->method = put_text(e, method);
    c->path = put_text(e, path);
    c->body = put_text(e, body);
    c->answer = put_text(e, answer);
}

static void add_note(struct dryrun_entry *e, struct dryrun_entry_note **a, size_t *n, size_t *cap,
                     const char *what, const char *json)
{
    if (reserve((void **)a, *n, cap, sizeof **a)) {
        e->oom = 1;
        return;
    }
    (*a)[*n].what = put_text(e, what);
    (*a)[*n].json = put_text(e, json);
    (*n)++;
}

void dryrun_entry_add_write(struct dryrun_entry *e, const char *what, const char *json)
{
    add_note(e, &e->writes, &e->nwrites, &e->capwrites, what, json);
}

void dryrun_entry_add_emit(struct dryrun_entry *e, const char *topic, const char *payload)
{
    add_note(e, &e->emits, &e->nemits, &e->capemits, topic, payload);
}

void dryrun_entry_clear(struct dryrun_entry *e)
{
    free(e->error);
    json_decref(e->result);
    json_decref(e->calls_json);
    e->event_id = 0;
    e->topic[0] = '\0';
    e->status = NULL;
    e->error = NULL;
    e->result = e->calls_json = NULL;
    e->recorded = NULL;
    e->nrecorded = 0;
    e->unanswered = 0;
    e->rerun = 0;
    e->text.len = 0;
    e->text.oom = 0;
    e->ncalls = e->nwrites = e->nemits = 0;
    e->oom = 0;
}

void dryrun_entry_free(struct dryrun_entry *e)
{
    dryrun_entry_clear(e);
    strbuf_free(&e->text);
    free(e->calls);
    free(e->writes);
    free(e->emits);
    memset(e, 0, sizeof *e);
}

static json_t *str_or_null(const char *s) { return s ? json_string(s) : json_null(); }

/* The calls as JSON objects {step, kind, method, path, body, answer}, made once. */
static json_t *entry_calls(struct dryrun_entry *e)
{
    if (e->calls_json) return e->calls_json;
    e->calls_json = json_array();
    for (size_t i = 0; i < e->ncalls; i++) {
        const struct dryrun_entry_call *k = &e->calls[i];
        json_t *c = json_object();
        json_object_set_new(c, "step", json_integer(k->step));
        json_object_set_new(c, "kind", json_string(text_at(e, k->kind)));
        json_object_set_new(c, "method", str_or_null(text_at(e, k->method)));
        json_object_set_new(c, "path", str_or_null(text_at(e, k->path)));
        json_object_set_new(c, "body", str_or_null(text_at(e, k->body)));
        json_object_set_new(c, "answer", json_string(text_at(e, k->answer)));
        json_array_append_new(e->calls_json, c);
    }
    return e->calls_json;
}

/* The state writes: {"what": ..., <the traced object's members>} */
static json_t *entry_writes(const struct dryrun_entry *e)
{
    json_t *a = json_array();
    for (size_t i = 0; i < e->nwrites; i++) {
        const char *json = text_at(e, e->writes[i].json);
        json_t *v = json ? json_loads(json, JSON_DECODE_ANY, NULL) : NULL;
        json_t *o = json_object();
        json_object_set_new(o, "what", json_string(text_at(e, e->writes[i].what)));
        if (v) json_object_update(o, v);
        json_decref(v);
        json_array_append_new(a, o);
    }
    return a;
}

/* The emits: {"topic": ..., "payload": <JSON, or the text when it is not>} */
static json_t *entry_emits(const struct dryrun_entry *e)
{
    json_t *a = json_array();
    for (size_t i = 0; i < e->nemits; i++) {
        const char *payload = text_at(e, e->emits[i].json);
        json_t *o = json_object();
        json_object_set_new(o, "topic", json_string(text_at(e, e->emits[i].what)));
        json_t *p = payload ? json_loads(payload, JSON_DECODE_ANY, NULL) : NULL;
        json_object_set_new(o, "payload", p ? p : json_string(payload));
        json_array_append_new(a, o);
    }
    return a;
}

static const char *s_of(json_t *o, const char *k) { return json_string_value(json_object_get(o, k)); }

/* "orderez POST /distributor/orders", or "shopify mutation OrderWriteback" */
static void call_label(json_t *c, char *out, size_t n)
{
    const char *kind = s_of(c, "kind"), *method = s_of(c, "method"), *path = s_of(c, "path");
    if (kind && strcmp(kind, "shopify") == 0) {
        const char *body = s_of(c, "body");
        json_t *b = body ? json_loads(body, 0, NULL) : NULL;
        const char *q = b ? s_of(b, "query") : NULL;
        char op[96] = "graphql";
        if (q) {
            while (*q == ' ' || *q == '\n' || *q == '\t') q++;
            size_t len = strcspn(q, "({");
            while (len > 0 && (q[len - 1] == ' ' || q[len - 1] == '\n')) len--;
            snprintf(op, sizeof op, "%.*s", (int)(len < 90 ? len : 90), q);
        }
        json_decref(b);
        snprintf(out, n, "shopify %s", op);
    } else {
        snprintf(out, n, "%s %s %s", kind ? kind : "?", method ? method : "", path ? path : "");
    }
}

static json_t *entry_json(struct dryrun_entry *e)
{
    json_t *o = json_object();
    json_object_set_new(o, "event", json_integer(e->event_id));
    json_object_set_new(o, "topic", json_string(e->topic));
    json_object_set_new(o, "status", json_string(e->status));
    if (e->result) json_object_set(o, "result", e->result);
    if (e->error) {
        size_t n = strcspn(e->error, "\n"); /* the message, without the traceback */
        json_object_set_new(o, "error", json_stringn(e->error, n));
    }
    json_object_set(o, "calls", entry_calls(e));
    if (e->nwrites) json_object_set_new(o, "writes", entry_writes(e));
    if (e->nemits) json_object_set_new(o, "emits", entry_emits(e));
    return o;
}

/* ---- --diff: align the calls now with the recorded ones by endpoint (LCS), then compare
 * bodies field by field ---- */

static void json_diff(json_t *a, json_t *b, char *path, size_t plen, int *left, FILE *out)
{
    if (*left <= 0 || json_equal(a, b)) return;
    size_t base = strlen(path);
    if (json_is_object(a) && json_is_object(b)) {
        const char *k;
        json_t *v;
        json_object_foreach(a, k, v) {
            snprintf(path + base, plen - base, "%s%s", base ? "." : "", k);
            json_diff(v, json_object_get(b, k), path, plen, left, out);
        }
        json_object_foreach(b, k, v) {
            if (json_object_get(a, k)) continue;
            snprintf(path + base, plen - base, "%s%s", base ? "." : "", k);
            json_diff(NULL, v, path, plen, left, out);
        }
        path[base] = '\0';
        return;
    }
    if (json_is_array(a) && json_is_array(b)) {
        size_t n = json_array_size(a) > json_array_size(b) ? json_array_size(a) : json_array_size(b);
        for (size_t i = 0; i < n; i++) {
            snprintf(path + base, plen - base, "[%zu]", i);
            json_diff(json_array_get(a, i), json_array_get(b, i), path, plen, left, out);
        }
        path[base] = '\0';
        return;
    }
    char *sa = a ? json_dumps(a, JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS) : NULL;
    char *sb = b ? json_dumps(b, JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS) : NULL;
    fprintf(out, "        %s: %.60s -> %.60s\n", *path ? path : "(body)", sa ? sa : "(absent)",
            sb ? sb : "(absent)");
    free(sa);
    free(sb);
    (*left)--;
}

static void body_diff(const char *was, const char *now, FILE *out)
{
    json_t *a = was ? json_loads(was, JSON_DECODE_ANY, NULL) : NULL;
    json_t *b = now ? json_loads(now, JSON_DECODE_ANY, NULL) : NULL;
    char path[512] = "";
    int left = 8;
    json_diff(a, b, path, sizeof path, &left, out);
    if (left <= 0) fprintf(out, "        ...\n");
    json_decref(a);
    json_decref(b);
}

static int same_endpoint(json_t *a, json_t *b)
{
    char la[256], lb[256];
    call_label(a, la, sizeof la);
    call_label(b, lb, sizeof lb);
    return strcmp(la, lb) == 0;
}

static int diff_calls(struct dryrun_entry *e, json_t *now, json_t *was, FILE *out);

/* The writes of a call list: --diff compares what would change something. Reads depend on what
 * concurrently running jobs had already looked up when the traffic was recorded, so the
 * sequential replay legitimately reads in other places. */
static json_t *writes_of(json_t *calls)
{
    json_t *w = json_array();
    size_t i;
    json_t *c;
    json_array_foreach(calls, i, c)
        if (!dryrun_is_read(s_of(c, "kind"), s_of(c, "method"), s_of(c, "body")))
            json_array_append(w, c);
    return w;
}

/* The recorded calls as the call objects the diff compares. */
static json_t *recorded_json(const struct dryrun_entry *e)
{
    json_t *a = json_array();
    for (size_t i = 0; i < e->nrecorded; i++) {
        const struct dryrun_call *r = &e->recorded[i];
        json_t *c = json_object();
        json_object_set_new(c, "kind", str_or_null(r->kind_name));
        json_object_set_new(c, "method", str_or_null(r->method));
        json_object_set_new(c, "path", str_or_null(r->path));
        json_object_set_new(c, "body", str_or_null(r->body));
        json_array_append_new(a, c);
    }
    return a;
}

static int print_diff(struct dryrun_entry *e, FILE *out)
{
    json_t *was_all = recorded_json(e);
    json_t *now = writes_of(entry_calls(e)), *was = writes_of(was_all);
    int changes = diff_calls(e, now, was, out);
    json_decref(now);
    json_decref(was);
    json_decref(was_all);
    return changes;
}

static int diff_calls(struct dryrun_entry *e, json_t *now, json_t *was, FILE *out)
{
    size_t n = json_array_size(now), m = json_array_size(was);
    int *L = calloc((n + 1) * (m + 1), sizeof *L);
    if (!L) return 0;
#define LCS(i, j) L[(i) * (m + 1) + (j)]
    for (size_t i = n; i-- > 0;)
        for (size_t j = m; j-- > 0;)
            LCS(i, j) = same_endpoint(json_array_get(now, i), json_array_get(was, j))
                            ? LCS(i + 1, j + 1) + 1
                            : (LCS(i + 1, j) > LCS(i, j + 1) ? LCS(i + 1, j) : LCS(i, j + 1));
    int changes = 0, header = 0;
    size_t i = 0, j = 0;
    char label[256];
    while (i < n || j < m) {
        json_t *a = i < n ? json_array_get(now, i) : NULL, *b = j < m ? json_array_get(was, j) : NULL;
        char mark = 0;
        json_t *show = NULL;
        if (a && b && same_endpoint(a, b)) {
            if (!json_equal(json_object_get(a, "body"), json_object_get(b, "body"))) mark = '~';
            show = a;
            i++, j++;
        } else if (a && (!b || LCS(i + 1, j) >= LCS(i, j + 1))) {
            mark = '+', show = a, i++;
        } else {
            mark = '-', show = b, j++;
        }
        if (!mark) continue;
        if (!header) {
            fprintf(out, "#%lld %s: calls differ from the recording\n", (long long)e->event_id, e->topic);
            header = 1;
        }
        call_label(show, label, sizeof label);
        fprintf(out, "  %c %s%s\n", mark, label,
                mark == '+' ? "  (new)" : mark == '-' ? "  (recorded, not made now)" : "");
        if (mark == '~') body_diff(s_of(b, "body"), s_of(a, "body"), out);
        changes++;
    }
#undef LCS
    free(L);
    return changes;
}

/* ---- output ---- */

static void print_text(struct dryrun_entry *e, FILE *out)
{
    char *res = e->result ? json_dumps(e->result, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    fprintf(out, "#%lld %s: %s%s%s\n", (long long)e->event_id, e->topic, e->status,
            res ? " " : "", res ? res : "");
    free(res);
    if (e->error) fprintf(out, "    error: %.*s\n", (int)strcspn(e->error, "\n"), e->error);
    size_t i;
    json_t *c;
    char label[256];
    json_array_foreach(entry_calls(e), i, c) {
        call_label(c, label, sizeof label);
        fprintf(out, "  %2lld %s  [%s]\n", (long long)json_integer_value(json_object_get(c, "step")),
                label, s_of(c, "answer"));
        const char *body = s_of(c, "body");
        if (body && strcmp(s_of(c, "kind"), "shopify") != 0) fprintf(out, "       %s\n", body);
        else if (body) {
            json_t *b = json_loads(body, 0, NULL);
            char *v = b ? json_dumps(json_object_get(b, "variables"), JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
            if (v) fprintf(out, "       variables %s\n", v);
            free(v);
            json_decref(b);
        }
    }
}

struct dryrun_report *dryrun_report_new(const struct dryrun_opts *o, const char *events_path,
                                        const char *rules_version, char *err, size_t errlen)
{
    struct dryrun_report *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->o = *o;
    if (o->expect && !(r->expect = fopen(o->expect, "r"))) {
        snprintf(err, errlen, "cannot read %s: %s", o->expect, strerror(errno));
        free(r);
        return NULL;
    }
    r->tty = isatty(STDERR_FILENO) && !o->quiet;
    r->last_pct = -1;
    clock_gettime(CLOCK_MONOTONIC, &r->t0);
    if (!o->json && !o->quiet && !o->expect)
        printf("dry run of %s with rules %s: nothing is sent, nothing is stored\n", events_path,
               rules_version);
    return r;
}

static void expect_compare(struct dryrun_report *r, const char *got)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t len = getline(&line, &cap, r->expect);
    r->expect_line++;
    if (len > 0 && line[len - 1] == '\n') line[--len] = '\0';
    if (len < 0 || strcmp(line, got) != 0) {
        r->expect_diffs++;
        if (r->expect_diffs <= 10)
            printf("%s:%ld: differs\n  expected: %.400s\n  got:      %.400s\n", r->o.expect,
                   r->expect_line, len < 0 ? "(end of file)" : line, got);
    }
    free(line);
}

void dryrun_report_add(struct dryrun_report *r, struct dryrun_entry *e)
{
    r->events++;
    if (strcmp(e->status, "done") == 0) r->done++;
    else if (strcmp(e->status, "no rule") == 0) r->norule++;
    else r->failed++;
    if (e->result && json_object_get(e->result, "skipped")) r->skipped++;
    r->unanswered += e->unanswered;
    r->reruns += e->rerun;
    for (size_t i = 0; i < e->ncalls; i++) {
        const char *kind = text_at(e, e->calls[i].kind), *m = text_at(e, e->calls[i].method),
                   *b = text_at(e, e->calls[i].body);
        if (!kind) continue; /* lost to out of memory */
        r->calls++;
        for (int k = 0; k < 3; k++)
            if (strcmp(kind, kinds[k]) == 0) r->by_kind[k]++;
        int write = strcmp(kind, "shopify") == 0 ? (b && strstr(b, "mutation") != NULL)
                                                  : !(m && strcmp(m, "GET") == 0);
        r->writes += write;
    }
    if (r->o.json || r->o.expect) {
        json_t *o = entry_json(e);
        char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (r->o.expect) expect_compare(r, s);
        else puts(s);
        free(s);
        json_decref(o);
    }
    if (r->o.diff) {
        if (print_diff(e, stdout)) r->changed++;
    } else if (!r->o.json && !r->o.quiet && !r->o.expect && strcmp(e->status, "no rule") != 0) {
        print_text(e, stdout); /* events no rule handles are only counted */
    }
}

void dryrun_report_progress(struct dryrun_report *r, long done, long total)
{
    if (!r->tty || total <= 0) return;
    long pct = done * 100 / total;
    if (pct == r->last_pct) return;
    r->last_pct = pct;
    char bar[41];
    memset(bar, '#', (size_t)(pct * 40 / 100));
    memset(bar + pct * 40 / 100, '.', (size_t)(40 - pct * 40 / 100));
    bar[40] = '\0';
    fprintf(stderr, "\r[%s] %3ld%%  %lld events", bar, pct, (long long)r->events);
    if (pct == 100) fputc('\n', stderr);
}

static double tv_secs(struct timeval tv) { return (double)tv.tv_sec + (double)tv.tv_usec / 1e6; }

int dryrun_report_finish(struct dryrun_report *r)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - r->t0.tv_sec) + (double)(t1.tv_nsec - r->t0.tv_nsec) / 1e9;
    json_t *sum = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:{s:I, s:I, s:I}, s:I, s:I}",
                            "events", (json_int_t)r->events, "done", (json_int_t)r->done,
                            "failed", (json_int_t)r->failed, "skipped", (json_int_t)r->skipped,
                            "no_rule", (json_int_t)r->norule, "calls", (json_int_t)r->calls,
                            "by_remote", "shopify", (json_int_t)r->by_kind[0],
                            "orderez", (json_int_t)r->by_kind[1], "notify", (json_int_t)r->by_kind[2],
                            "writes", (json_int_t)r->writes, "unanswered", (json_int_t)r->unanswered);
    if (r->o.diff) json_object_set_new(sum, "changed_events", json_integer(r->changed));
    json_t *wrap = json_pack("{s:o}", "summary", sum);
    char *s = json_dumps(wrap, JSON_COMPACT | JSON_PRESERVE_ORDER);
    int rc = 0;
    if (r->o.expect) {
        expect_compare(r, s);
        char extra[8];
        if (fgets(extra, sizeof extra, r->expect)) {
            r->expect_diffs++;
            printf("%s: has more lines than this run produced\n", r->o.expect);
        }
        printf("expect: %s (%d difference%s)\n", r->expect_diffs ? "FAILED" : "ok",
               r->expect_diffs, r->expect_diffs == 1 ? "" : "s");
        rc = r->expect_diffs ? 1 : 0;
    } else if (r->o.json) {
        puts(s);
    } else {
        printf("\n%lld event(s): %lld done (%lld skipped), %lld failed, %lld without a rule;"
               " %lld call(s) would be made (%lld writes; shopify %lld, orderez %lld, notify %lld),"
               " %lld unanswered\n",
               (long long)r->events, (long long)r->done, (long long)r->skipped, (long long)r->failed,
               (long long)r->norule, (long long)r->calls, (long long)r->writes,
               (long long)r->by_kind[0], (long long)r->by_kind[1], (long long)r->by_kind[2],
               (long long)r->unanswered);
        if (r->o.diff) printf("%lld event(s) would make different calls than recorded\n",
                              (long long)r->changed);
    }
    free(s);
    json_decref(wrap);
    fflush(stdout);
    /* The CPU beside the wall time: the rules run on this thread, the recording is read and
     * indexed on others, so "rules thread ~ wall" says the rules bound the run, and "CPU ~
     * cores x wall" says the machine does. */
    struct rusage all, self;
    double cpu = -1, rules_cpu = -1;
    if (getrusage(RUSAGE_SELF, &all) == 0) cpu = tv_secs(all.ru_utime) + tv_secs(all.ru_stime);
    if (getrusage(RUSAGE_THREAD, &self) == 0) rules_cpu = tv_secs(self.ru_utime) + tv_secs(self.ru_stime);
    fprintf(stderr, "dry-run: %lld events in %.3f s (%.0f events/s); CPU %.2f s, the rules thread %.2f s",
            (long long)r->events, secs, secs > 0 ? (double)r->events / secs : 0.0, cpu, rules_cpu);
    /* events whose rules ran long enough to be run again under the instruction budget's hook:
     * a rule that slow is worth knowing about */
    if (r->reruns) fprintf(stderr, "; %lld run again metered", (long long)r->reruns);
    fputc('\n', stderr);
    return rc;
}

void dryrun_report_free(struct dryrun_report *r)
{
    if (!r) return;
    if (r->expect) fclose(r->expect);
    free(r);
}

/* ---- fixtures ---- */

struct dryrun_fixtures {
    json_t *list;
};

int dryrun_fixtures_load(struct dryrun_fixtures **out, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    *out = NULL;
    if (!f) {
        snprintf(err, errlen, "cannot read fixtures %s: %s", path, strerror(errno));
        return -1;
    }
    struct dryrun_fixtures *fx = calloc(1, sizeof *fx);
    fx->list = json_array();
    char *line = NULL;
    size_t cap = 0;
    long n = 0;
    ssize_t len;
    int rc = 0;
    while ((len = getline(&line, &cap, f)) > 0) {
        n++;
        if (len == 1) continue;
        json_error_t je;
        json_t *o = json_loadb(line, (size_t)len, 0, &je);
        json_t *resp = o ? json_object_get(o, "response") : NULL;
        if (!o || !s_of(o, "kind") || !s_of(o, "method") || !resp ||
            !json_is_integer(json_object_get(o, "status"))) {
            snprintf(err, errlen, "%s:%ld: a fixture needs kind, method, status and response%s%s",
                     path, n, o ? "" : ": ", o ? "" : je.text);
            json_decref(o);
            rc = -1;
            break;
        }
        if (!json_is_string(resp)) { /* kept as the wire text the rule would receive */
            char *t = json_dumps(resp, JSON_COMPACT | JSON_ENCODE_ANY);
            json_object_set_new(o, "response", json_string(t));
            free(t);
        }
        json_array_append_new(fx->list, o);
    }
    free(line);
    fclose(f);
    if (rc) dryrun_fixtures_free(fx);
    else *out = fx;
    return rc;
}

json_t *dryrun_fixture_find(struct dryrun_fixtures *fx, const char *kind, const char *method,
                            const char *path, const char *body)
{
    if (!fx) return NULL;
    size_t i;
    json_t *o;
    json_array_foreach(fx->list, i, o) {
        const char *fp = s_of(o, "path"), *fb = s_of(o, "body");
        if (strcmp(s_of(o, "kind"), kind) || strcmp(s_of(o, "method"), method ? method : "")) continue;
        if (fp && (!path || strcmp(fp, path))) continue;
        if (fb && (!body || strcmp(fb, body))) continue;
        return o;
    }
    return NULL;
}

void dryrun_fixtures_free(struct dryrun_fixtures *fx)
{
    if (!fx) return;
    json_decref(fx->list);
    free(fx);
}
