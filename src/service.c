/* service: see service.h. Signals are delivered through the event loop (evsignal), so handlers
 * run as ordinary callbacks and may touch any state. */
#include "service.h"

#include "cli.h"
#include "log.h"
#include "rules.h"
#include "store.h"

#include <event2/event.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

static void on_stop(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    struct service *svc = arg;
    log_info("stopping", "signal", sig == SIGTERM ? "TERM" : "INT");
    svc->stopping = 1;
    event_base_loopexit(svc->base, NULL);
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
    if (rules_open(&svc->rules, svc->cfg, err, sizeof err)) {
        log_error("cannot load rules", "error", err);
        fprintf(stderr, "ezsync: %s\n", err);
        rc = EXIT_USAGE;
        goto done;
    }
    svc->base = event_base_new();
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
    log_info("ezsync started", "store", svc->cfg->store_path, "listen", svc->cfg->server_listen);
    if (event_base_dispatch(svc->base) < 0) {
        log_error("event loop failed");
        goto done;
    }
    rc = EXIT_OK;
    log_info("ezsync stopped");
done:
    if (ev_term) event_free(ev_term);
    if (ev_int) event_free(ev_int);
    if (ev_hup) event_free(ev_hup);
    rules_close(svc->rules);  /* before the base: the watch timer belongs to it */
    if (svc->base) event_base_free(svc->base);
    store_close(svc->store);
    svc->base = NULL;
    svc->store = NULL;
    svc->rules = NULL;
    return rc;
}

int service_cmd_serve(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "config", required_argument, 0, 'c' }, { 0, 0, 0, 0 } };
    const char *path = cli_default_config();
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:", longopts, NULL)) != -1) {
        if (c == 'c') path = optarg;
        else return EXIT_USAGE;
    }
    if (optind < argc) {
        fprintf(stderr, "ezsync serve: unexpected argument '%s'\n", argv[optind]);
        return EXIT_USAGE;
    }
    struct config cfg;
    int rc = cli_load_config(&cfg, path);
    if (rc) return rc;
    struct service svc;
    memset(&svc, 0, sizeof svc);
    svc.cfg = &cfg;
    rc = service_run(&svc);
    config_free(&cfg);
    return rc;
}
