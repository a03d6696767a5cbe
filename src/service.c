/* service: see service.h. Signals are delivered through the event loop (evsignal), so handlers
 * run as ordinary callbacks and may touch any state. */
#include "service.h"

#include "admin.h"
#include "admin_api.h"
#include "cli.h"
#include "dashboard.h"
#include "engine.h"
#include "ingest.h"
#include "log.h"
#include "metrics.h"
#include "poller.h"
#include "remotes.h"
#include "rules.h"
#include "rules_runner.h"
#include "scheduler.h"
#include "subscriptions.h"
#include "store.h"

#include <event2/event.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* How long a stopping service keeps serving the connections it already has, so that requests
 * in flight when SIGTERM arrived get their reply (and their commit). */
#define SERVICE_DRAIN_MS 250
#define SERVICE_LOOP_BUSY_MS 250
#define SERVICE_MALLOC_MMAP_BYTES (128 * 1024)   /* glibc's initial threshold, kept */
#define SERVICE_CACHE_KIB 1024   /* the loop connection's page cache; see service_run */

/* The engine has let every job with a response in flight journal it (they resume after the
 * restart); what remains is the listeners' short drain window. */
static void on_engine_stopped(void *ud)
{
    struct service *svc = ud;
    struct timeval drain = { 0, SERVICE_DRAIN_MS * 1000 };
    event_base_loopexit(svc->base, &drain);
}

static void on_stop(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    struct service *svc = arg;
    if (svc->stopping) {
        log_info("stopping now", "signal", sig == SIGTERM ? "TERM" : "INT");
        event_base_loopbreak(svc->base);
        return;
    }
    log_info("stopping", "signal", sig == SIGTERM ? "TERM" : "INT");
    svc->stopping = 1;
    /* No new connections; what is queued is committed and answered now; open connections get
     * a short drain window for requests already on the wire. */
    if (svc->ingest) ingest_stop_accepting(svc->ingest);
    if (svc->admin) admin_stop_accepting(svc->admin);
    if (svc->ingest) ingest_flush(svc->ingest);
    if (svc->poller) poller_stop(svc->poller);
    if (svc->scheduler) scheduler_stop(svc->scheduler);
    if (svc->engine) engine_stop(svc->engine, 1, on_engine_stopped, svc); /* see below */
    else on_engine_stopped(svc);
}

/* The listeners' bound addresses, written atomically (tmp + rename) so a reader never sees a
 * half-written file; tests start on port 0 and read the real ports from here. */
static int write_ready_file(struct service *svc)
{
    char tmp[4096];
    json_t *o = json_object();
    int rc = -1;
    if (!o) return -1;
    json_object_set_new(o, "pid", json_integer(getpid()));
    json_object_set_new(o, "public", json_string(svc->ingest->listener.addr));
    json_object_set_new(o, "admin", svc->admin->started ? json_string(svc->admin->listener.addr)
                                                        : json_null());
    snprintf(tmp, sizeof tmp, "%s.tmp", svc->ready_file);
    if (json_dump_file(o, tmp, JSON_COMPACT) == 0 && rename(tmp, svc->ready_file) == 0) rc = 0;
    json_decref(o);
    return rc;
}

/* The webhook writer commits each delivery into the backlog: the engine jobs it when it has
 * room (a pick with free slots), so a commit costs the loop nothing more than a wake-up. */
static void on_events_stored(void *ud, int64_t first_id, size_t n)
{
    (void)first_id;
    (void)n;
    struct service *svc = ud;
    if (svc->engine) engine_notify_backlog(svc->engine);
}

static void notify_engine(void *ud)
{
    struct service *svc = ud;
    if (svc->engine) engine_notify_events(svc->engine);
}

/* The processing side: remotes, the engine over the rules, pollers and schedules. */
static int start_engine(struct service *svc)
{
    char err[512];
    svc->runner = calloc(1, sizeof *svc->runner);
    svc->api = calloc(1, sizeof *svc->api);
    if (!svc->runner || !svc->api) return -1;
    if (remotes_new(&svc->remotes, svc->base, svc->cfg, err, sizeof err)) {
        log_error("cannot start the remotes", "error", err);
        fprintf(stderr, "ezsync: %s\n", err);
        return -1;
    }
    struct engine_remotes er;
    struct engine_runner run;
    remotes_engine(svc->remotes, &er);
    svc->runner->rules = svc->rules;
    svc->runner->store = svc->store;
    svc->runner->on_emit = notify_engine;
    svc->runner->emit_ud = svc;
    rules_runner_init(svc->runner, &run);
    svc->engine = engine_new(svc->base, svc->store, svc->cfg, &run, &er);
    if (!svc->engine || engine_start(svc->engine)) {
        log_error("cannot start the engine");
        return -1;
    }
    svc->poller = poller_new(svc->base, svc->store, svc->cfg, &er, notify_engine, svc);
    if (!svc->poller || poller_start(svc->poller)) {
        log_error("cannot start the pollers");
        return -1;
    }
    svc->scheduler = scheduler_new(svc->base, svc->store, svc->cfg, notify_engine, svc);
    if (!svc->scheduler || scheduler_start(svc->scheduler)) {
        log_error("cannot start the scheduler");
        return -1;
    }
    svc->subscriptions = subscriptions_new(svc->base, svc->cfg, svc->rules, &er);
    if (!svc->subscriptions && svc->cfg->shopify_webhook_address)
        log_warn("webhook subscriptions will not be checked (out of memory)");
    return 0;
}

/* Teardown order matters: the remotes cancel what is in flight (their callbacks still reach
 * the engine and pollers), and only then are those freed. */
static void stop_engine(struct service *svc)
{
    if (svc->poller) poller_stop(svc->poller);
    if (svc->scheduler) scheduler_stop(svc->scheduler);
    remotes_free(svc->remotes);
    svc->remotes = NULL;
    scheduler_free(svc->scheduler);
    poller_free(svc->poller);
    subscriptions_free(svc->subscriptions);
    svc->subscriptions = NULL;
    engine_free(svc->engine);
    free(svc->runner);
    free(svc->api);
    svc->scheduler = NULL;
    svc->poller = NULL;
    svc->engine = NULL;
    svc->runner = NULL;
    svc->api = NULL;
}

static int start_listeners(struct service *svc)
{
    char err[512];
    svc->metrics = metrics_new();
    svc->ingest = calloc(1, sizeof *svc->ingest);
    svc->admin = calloc(1, sizeof *svc->admin);
    if (!svc->metrics || !svc->ingest || !svc->admin) {
        log_error("out of memory");
        return -1;
    }
    metrics_register_process(svc->metrics);
    if (ingest_start(svc->ingest, svc->base, svc->cfg, svc->metrics, err, sizeof err)) {
        free(svc->ingest);
        svc->ingest = NULL;
        log_error("cannot start the public listener", "error", err);
        return -1;
    }
    if (admin_start(svc->admin, svc->base, svc->cfg, svc->metrics, err, sizeof err)) {
        log_error("cannot start the admin listener", "error", err);
        return -1;
    }
    admin_ready_check(svc->admin, "store", ingest_ready, svc->ingest);
    admin_status_add(svc->admin, ingest_status, svc->ingest);
    svc->ingest->on_events_stored = on_events_stored;
    svc->ingest->on_events_stored_ud = svc;
    svc->api->engine = svc->engine;
    svc->api->rules = svc->rules;
    svc->api->remotes = svc->remotes;
    svc->api->metrics = svc->metrics;
    if (admin_api_register(svc->api, svc->admin) || dashboard_register(svc->admin)) {
        log_error("cannot register the admin API");
        return -1;
    }
    if (svc->ready_file && write_ready_file(svc)) {
        log_error("cannot write the ready file", "path", svc->ready_file);
        return -1;
    }
    return 0;
}

static void stop_listeners(struct service *svc)
{
    /* ingest first: it answers what is still queued before its connections are freed. */
    if (svc->ingest) ingest_close(svc->ingest);
    if (svc->admin) admin_close(svc->admin);
    free(svc->ingest);
    free(svc->admin);
    metrics_free(svc->metrics);
    svc->ingest = NULL;
    svc->admin = NULL;
    svc->metrics = NULL;
}

static void on_hup(evutil_socket_t sig, short what, void *arg)
{
    (void)sig;
    (void)what;
    struct service *svc = arg;
    log_info("SIGHUP received: reloading rules");
    if (svc->rules) rules_reload(svc->rules, NULL, 0);  /* logs; the old version keeps serving */
}

int service_run(struct service *svc)
{
    char err[1024];
    int rc = EXIT_RUNTIME;
    struct event *ev_term = NULL, *ev_int = NULL, *ev_hup = NULL;

    signal(SIGPIPE, SIG_IGN);
    if (store_open(&svc->store, svc->cfg->store_path, 0, err, sizeof err)) {
        log_error("cannot open store", "error", err);
        fprintf(stderr, "ezsync: %s\n", err);
        return EXIT_RUNTIME;
    }
    /* This connection belongs to the event loop (engine, pollers, rules' idmap/kv): a lock held
     * by someone else must not freeze the loop for SQLite's default wait. The ingest writer
     * thread's commits take milliseconds; a longer hold fails the step, which the engine
     * retries. */
    store_set_busy_timeout(svc->store, SERVICE_LOOP_BUSY_MS);
    /* The loop's own writes (job states, journal steps, ID map) are crash-safe rather than
     * synced per commit: an fsync per step stalled the loop (about 11 commits per order; the
     * drain ran 10 % under the rate limit). What power loss could take back is safe to redo:
     * the events stay (the receiver's connection syncs every commit, which also syncs these),
     * a lost journal step is re-sent with the same idempotency key, and the rules look up
     * before they create (outlets, contacts, products; orders by externalRef, 409). */
    store_set_durability(svc->store, STORE_CRASH_SAFE);
    /* The ingest checkpointer keeps the log short: a commit on the loop must not checkpoint. */
    store_set_autocheckpoint(svc->store, 0);
    /* What this connection reads again is small and recent (the backlog's head, job rows, the
     * ID map's and kv's pages); the event bodies it reads once. SQLite's default 2 MB cache
     * filled with those bodies in a burst and was a tenth of the process's 20 MB budget; the
     * OS page cache holds them anyway (bench/ingest: peak RSS 21.5/21.5/20.7 MB with 2 MB,
     * 20.4/19.4/20.8 with 1 MB, the same traffic). */
    store_set_cache_kib(svc->store, SERVICE_CACHE_KIB);
    if (rules_open(&svc->rules, svc->cfg, err, sizeof err)) {
        log_error("cannot load rules", "error", err);
        fprintf(stderr, "ezsync: %s\n", err);
        rc = EXIT_USAGE;
        goto done;
    }
    /* The changelist folds the epoll_ctl calls a connection makes in one turn (disable read,
     * enable write, ...) into one; it is measurably cheaper per webhook. */
    struct event_config *ecfg = event_config_new();
    if (ecfg) event_config_set_flag(ecfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
    svc->base = ecfg ? event_base_new_with_config(ecfg) : NULL;
    if (ecfg) event_config_free(ecfg);
    if (!svc->base) {
        log_error("cannot create event loop");
        goto done;
    }
    ev_term = evsignal_new(svc->base, SIGTERM, on_stop, svc);
    ev_int = evsignal_new(svc->base, SIGINT, on_stop, svc);
    ev_hup = evsignal_new(svc->base, SIGHUP, on_hup, svc);
    if (!ev_term || !ev_int || !ev_hup || event_add(ev_term, NULL) || event_add(ev_int, NULL) ||
        event_add(ev_hup, NULL)) {
        log_error("cannot install signal handlers");
        goto done;
    }
    if (rules_watch(svc->rules, svc->base)) {
        log_error("cannot watch the rules directory");
        goto done;
    }
    if (start_engine(svc)) {
        rc = svc->remotes ? EXIT_RUNTIME : EXIT_USAGE; /* no remotes: a configuration error */
        goto done;
    }
    if (start_listeners(svc)) goto done;
    log_info("ezsync started", "store", svc->cfg->store_path, "listen",
             svc->ingest->listener.addr);
    if (event_base_dispatch(svc->base) < 0) {
        log_error("event loop failed");
        goto done;
    }
    rc = EXIT_OK;
    log_info("ezsync stopped");
done:
    stop_listeners(svc);
    stop_engine(svc);
    if (ev_term) event_free(ev_term);
    if (ev_int) event_free(ev_int);
    if (ev_hup) event_free(ev_hup);
    rules_close(svc->rules);
    svc->rules = NULL;
    if (svc->base) event_base_free(svc->base);
    store_close(svc->store);
    svc->base = NULL;
    svc->store = NULL;
    return rc;
}

int service_cmd_serve(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "config", required_argument, 0, 'c' }, { "ready-file", required_argument, 0, 'R' },
        { 0, 0, 0, 0 } };
    const char *path = cli_default_config(), *ready_file = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:", longopts, NULL)) != -1) {
        if (c == 'c') path = optarg;
        else if (c == 'R') ready_file = optarg;
        else return EXIT_USAGE;
    }
    if (optind < argc) {
        fprintf(stderr, "ezsync serve: unexpected argument '%s'\n", argv[optind]);
        return EXIT_USAGE;
    }
    /* Fixed malloc thresholds: glibc otherwise raises its mmap threshold to the size of each
     * large block freed (up to 32 MB) and trims a heap only past twice that, so after the
     * writer's 512 KB move buffers and a burst's batches a heap kept ~1 MB it no longer
     * used (peak RSS under bench/ingest: 18.4-18.6 MB with these, 19.3-19.6 without; the
     * rate the same). Blocks this large are few: an mmap each costs nothing measurable. */
    mallopt(M_MMAP_THRESHOLD, SERVICE_MALLOC_MMAP_BYTES);
    mallopt(M_TRIM_THRESHOLD, SERVICE_MALLOC_MMAP_BYTES);
    struct config cfg;
    int rc = cli_load_config(&cfg, path);
    if (rc) return rc;
    struct service svc;
    memset(&svc, 0, sizeof svc);
    svc.cfg = &cfg;
    svc.ready_file = ready_file;
    rc = service_run(&svc);
    config_free(&cfg);
    return rc;
}
