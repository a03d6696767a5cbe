/* metrics: a registry of counters, gauges and histograms, rendered in the Prometheus text
 * exposition format (version 0.0.4). Owns every series; subsystems register by name and keep
 * the returned pointer for the hot path. Single-threaded, like the event loop it serves. */
#ifndef EZ_METRICS_H
#define EZ_METRICS_H

#include <stddef.h>

struct metrics;
struct metric;   /* one series: a family name plus one label set */

typedef double (*metrics_fn)(void *ud);
/* Called at the start of every render: a subsystem whose numbers live elsewhere (the engine's
 * queue in the store) refreshes its series once per scrape instead of once per series. */
typedef void (*metrics_collect_fn)(void *ud, struct metrics *m);

struct metrics *metrics_new(void);
void metrics_free(struct metrics *m);

/* labels is the inside of {...}, e.g. "code=\"200\"", or NULL for none. Registering the same
 * name and labels again returns the existing series, so callers need not coordinate; a name
 * already registered with another type returns NULL. help is used from the first call. */
struct metric *metrics_counter(struct metrics *m, const char *name, const char *labels,
                               const char *help);
struct metric *metrics_gauge(struct metrics *m, const char *name, const char *labels,
                             const char *help);
/* A gauge read at scrape time. Registering again replaces fn/ud: this is how a subsystem that
 * starts later (the engine's queue depth) takes over a gauge registered with a placeholder. */
struct metric *metrics_gauge_fn(struct metrics *m, const char *name, const char *labels,
                                const char *help, metrics_fn fn, void *ud);
/* bounds: ascending upper bounds, without +Inf (added implicitly). Copied. */
struct metric *metrics_histogram(struct metrics *m, const char *name, const char *labels,
                                 const char *help, const double *bounds, size_t nbounds);

/* All accept NULL (a failed registration must not crash the hot path). */
void metrics_inc(struct metric *s);
void metrics_add(struct metric *s, double v);
void metrics_set(struct metric *s, double v);
void metrics_observe(struct metric *s, double v);
double metrics_value(const struct metric *s);
/* Overwrites a histogram from cumulative bucket counts (nbounds + 1 of them, the last is the
 * total) and a sum: for histograms another subsystem keeps. */
void metrics_histogram_set(struct metric *s, const unsigned long long *cumulative, double sum);
int metrics_on_collect(struct metrics *m, metrics_collect_fn fn, void *ud);   /* counter/gauge value; histogram count */

/* The whole registry as text; malloc'd, NUL-terminated, *len without the NUL. NULL on OOM. */
char *metrics_render(struct metrics *m, size_t *len);

/* Shared bucket sets. */
extern const double metrics_latency_buckets[];   /* seconds, 100 us .. 10 s */
extern const size_t metrics_latency_nbuckets;
extern const double metrics_size_buckets[];      /* counts, 1 .. 1024 */
extern const size_t metrics_size_nbuckets;

/* Registers process_resident_memory_bytes, process_start_time_seconds and
 * ezsync_uptime_seconds (read from /proc at scrape time). */
void metrics_register_process(struct metrics *m);
/* Seconds since metrics_new (a monotonic clock). */
double metrics_uptime(const struct metrics *m);

#endif
