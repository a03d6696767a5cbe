/* metrics: see metrics.h. Families keep registration order so the output is stable (tests and
 * humans diff it); series are a short linked list per family, which is fine for the few dozen
 * series this daemon has, and the hot path never looks anything up. */
#include "metrics.h"

#include "strbuf.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum metrics_type { M_COUNTER, M_GAUGE, M_HISTOGRAM };

struct metric {
    struct metric *next;
    char *labels;              /* NULL or "k=\"v\",..." */
    double value;              /* counter, gauge; histogram sum */
    metrics_fn fn;
    void *ud;
    double *bounds;
    size_t nbounds;
    unsigned long long *buckets;  /* nbounds + 1 (the last is +Inf), not cumulative */
    unsigned long long count;
};

struct family {
    struct family *next;
    char *name, *help;
    enum metrics_type type;
    struct metric *series, **series_tail;
};

#define METRICS_MAX_COLLECTORS 8

struct metrics {
    struct family *families, **tail;
    struct { metrics_collect_fn fn; void *ud; } collectors[METRICS_MAX_COLLECTORS];
    size_t ncollectors;
    double started_mono, started_wall;   /* seconds */
};

const double metrics_latency_buckets[] = { 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                           0.01,   0.025,   0.05,   0.1,   0.25,   0.5,
                                           1,      2.5,     5,      10 };
const size_t metrics_latency_nbuckets = sizeof metrics_latency_buckets / sizeof(double);
const double metrics_size_buckets[] = { 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024 };
const size_t metrics_size_nbuckets = sizeof metrics_size_buckets / sizeof(double);

struct metrics *metrics_new(void)
{
    struct metrics *m = calloc(1, sizeof *m);
    struct timespec mono, wall;
    if (!m) return NULL;
    m->tail = &m->families;
    clock_gettime(CLOCK_MONOTONIC, &mono);
    clock_gettime(CLOCK_REALTIME, &wall);
    m->started_mono = (double)mono.tv_sec + (double)mono.tv_nsec / 1e9;
    m->started_wall = (double)wall.tv_sec + (double)wall.tv_nsec / 1e9;
    return m;
}

static void series_free(struct metric *s)
{
    free(s->labels);
    free(s->bounds);
    free(s->buckets);
    free(s);
}

void metrics_free(struct metrics *m)
{
    if (!m) return;
    struct family *f = m->families;
    while (f) {
        struct family *fn = f->next;
        struct metric *s = f->series;
        while (s) {
            struct metric *sn = s->next;
            series_free(s);
            s = sn;
        }
        free(f->name);
        free(f->help);
        free(f);
        f = fn;
    }
    free(m);
}

static int same_labels(const char *a, const char *b)
{
    if (!a || !*a) return !b || !*b;
    return b && strcmp(a, b) == 0;
}

static struct metric *series_get(struct metrics *m, enum metrics_type type, const char *name,
                                 const char *labels, const char *help)
{
    struct family *f;
    if (!m || !name) return NULL;
    for (f = m->families; f; f = f->next)
        if (strcmp(f->name, name) == 0) break;
    if (f && f->type != type) return NULL;
    if (!f) {
        f = calloc(1, sizeof *f);
        if (!f) return NULL;
        f->name = strdup(name);
        f->help = strdup(help ? help : name);
        f->type = type;
        f->series_tail = &f->series;
        if (!f->name || !f->help) {
            free(f->name);
            free(f->help);
            free(f);
            return NULL;
        }
        *m->tail = f;
        m->tail = &f->next;
    }
    for (struct metric *s = f->series; s; s = s->next)
        if (same_labels(s->labels, labels)) return s;
    struct metric *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    if (labels && *labels && !(s->labels = strdup(labels))) {
        free(s);
        return NULL;
    }
    *f->series_tail = s;
    f->series_tail = &s->next;
    return s;
}

struct metric *metrics_counter(struct metrics *m, const char *name, const char *labels,
                               const char *help)
{
    return series_get(m, M_COUNTER, name, labels, help);
}

struct metric *metrics_gauge(struct metrics *m, const char *name, const char *labels,
                             const char *help)
{
    return series_get(m, M_GAUGE, name, labels, help);
}

struct metric *metrics_gauge_fn(struct metrics *m, const char *name, const char *labels,
                                const char *help, metrics_fn fn, void *ud)
{
    struct metric *s = series_get(m, M_GAUGE, name, labels, help);
    if (s) {
        s->fn = fn;
        s->ud = ud;
    }
    return s;
}

struct metric *metrics_histogram(struct metrics *m, const char *name, const char *labels,
                                 const char *help, const double *bounds, size_t nbounds)
{
    struct metric *s = series_get(m, M_HISTOGRAM, name, labels, help);
    if (!s || s->buckets) return s;
    s->bounds = malloc((nbounds ? nbounds : 1) * sizeof *s->bounds);
    s->buckets = calloc(nbounds + 1, sizeof *s->buckets);
    if (!s->bounds || !s->buckets) {
        free(s->bounds);
        free(s->buckets);
        s->bounds = NULL;
        s->buckets = NULL;
        return NULL;
    }
    if (nbounds) memcpy(s->bounds, bounds, nbounds * sizeof *bounds);
    s->nbounds = nbounds;
    return s;
}

void metrics_inc(struct metric *s) { if (s) s->value += 1; }
void metrics_add(struct metric *s, double v) { if (s) s->value += v; }
void metrics_set(struct metric *s, double v) { if (s) s->value = v; }

void metrics_observe(struct metric *s, double v)
{
    if (!s || !s->buckets) return;
    size_t i = 0;
    while (i < s->nbounds && v > s->bounds[i]) i++;
    s->buckets[i]++;
    s->count++;
    s->value += v;
}

void metrics_histogram_set(struct metric *s, const unsigned long long *cumulative, double sum)
{
    if (!s || !s->buckets) return;
    unsigned long long prev = 0;
    for (size_t i = 0; i <= s->nbounds; i++) {
        s->buckets[i] = cumulative[i] >= prev ? cumulative[i] - prev : 0;
        prev = cumulative[i];
    }
    s->count = prev;
    s->value = sum;
}

int metrics_on_collect(struct metrics *m, metrics_collect_fn fn, void *ud)
{
    if (m->ncollectors == METRICS_MAX_COLLECTORS) return -1;
    m->collectors[m->ncollectors].fn = fn;
    m->collectors[m->ncollectors].ud = ud;
    m->ncollectors++;
    return 0;
}

double metrics_value(const struct metric *s)
{
    if (!s) return 0;
    if (s->buckets) return (double)s->count;
    return s->fn ? s->fn(s->ud) : s->value;
}

/* Prometheus floats: integers without a fraction, +Inf/-Inf/NaN spelled its way. */
static void outnum(struct strbuf *o, double v)
{
    if (isnan(v)) strbuf_printf(o, "NaN");
    else if (isinf(v)) strbuf_printf(o, v > 0 ? "+Inf" : "-Inf");
    else if (v == floor(v) && fabs(v) < 1e15) strbuf_printf(o, "%.0f", v);
    else {
        /* The shortest form that reads back as the same double: 0.1, not 0.10000000000000001. */
        char tmp[32];
        for (int prec = 6; prec <= 17; prec++) {
            snprintf(tmp, sizeof tmp, "%.*g", prec, v);
            if (strtod(tmp, NULL) == v) break;
        }
        strbuf_printf(o, "%s", tmp);
    }
}

/* HELP text escapes backslash and newline only (the exposition format's rule). */
static void outhelp(struct strbuf *o, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\') strbuf_printf(o, "\\\\");
        else if (*s == '\n') strbuf_printf(o, "\\n");
        else strbuf_printf(o, "%c", *s);
    }
}

static void render_series(struct strbuf *o, const struct family *f, const struct metric *s)
{
    const char *lb = s->labels ? s->labels : "";
    if (f->type != M_HISTOGRAM) {
        strbuf_printf(o, "%s%s%s%s ", f->name, *lb ? "{" : "", lb, *lb ? "}" : "");
        outnum(o, metrics_value(s));
        strbuf_printf(o, "\n");
        return;
    }
    unsigned long long cum = 0;
    for (size_t i = 0; i <= s->nbounds; i++) {
        cum += s->buckets[i];
        strbuf_printf(o, "%s_bucket{%s%sle=\"", f->name, lb, *lb ? "," : "");
        if (i < s->nbounds) outnum(o, s->bounds[i]);
        else strbuf_printf(o, "+Inf");
        strbuf_printf(o, "\"} %llu\n", cum);
    }
    strbuf_printf(o, "%s_sum%s%s%s ", f->name, *lb ? "{" : "", lb, *lb ? "}" : "");
    outnum(o, s->value);
    strbuf_printf(o, "\n%s_count%s%s%s %llu\n", f->name, *lb ? "{" : "", lb, *lb ? "}" : "", s->count);
}

char *metrics_render(struct metrics *m, size_t *len)
{
    static const char *type_names[] = { "counter", "gauge", "histogram" };
    struct strbuf o = { 0 };
    for (size_t i = 0; i < m->ncollectors; i++) m->collectors[i].fn(m->collectors[i].ud, m);
    strbuf_printf(&o, "%s", "");
    for (const struct family *f = m->families; f; f = f->next) {
        strbuf_printf(&o, "# HELP %s ", f->name);
        outhelp(&o, f->help);
        strbuf_printf(&o, "\n# TYPE %s %s\n", f->name, type_names[f->type]);
        for (const struct metric *s = f->series; s; s = s->next) render_series(&o, f, s);
    }
    if (o.oom) {
        free(o.p);
        return NULL;
    }
    if (len) *len = o.len;
    return o.p;
}

double metrics_uptime(const struct metrics *m)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9 - m->started_mono;
}

static double uptime_fn(void *ud) { return metrics_uptime(ud); }

/* Resident set from /proc/self/statm (second field, in pages): cheap enough to read per scrape. */
static double rss_fn(void *ud)
{
    (void)ud;
    unsigned long size = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) return 0;
    if (fscanf(f, "%lu %lu", &size, &resident) != 2) resident = 0;
    fclose(f);
    return (double)resident * (double)sysconf(_SC_PAGESIZE);
}

void metrics_register_process(struct metrics *m)
{
    metrics_gauge_fn(m, "process_resident_memory_bytes", NULL, "Resident memory size in bytes.",
                     rss_fn, NULL);
    metrics_set(metrics_gauge(m, "process_start_time_seconds", NULL,
                              "Start time of the process since unix epoch in seconds."),
                m->started_wall);
    metrics_gauge_fn(m, "ezsync_uptime_seconds", NULL, "seconds since the service started",
                     uptime_fn, m);
}
