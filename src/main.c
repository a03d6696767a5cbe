/* main: the ezsync command line. Dispatches to the command table; each command parses its own
 * options. Exit codes (cli.h): 0 ok, 1 runtime failure, 2 usage or configuration error. */
#include "cli.h"
#include "config.h"
#include "dryrun.h"
#include "record.h"
#include "dlq.h"
#include "log.h"
#include "rules.h"
#include "service.h"
#include "store.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "version.h" /* generated: EZ_VERSION from git describe */

static int cmd_help(int argc, char **argv);

static int cmd_version(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    printf("ezsync %s\n", EZ_VERSION);
    return EXIT_OK;
}

static int cmd_check(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "config", required_argument, 0, 'c' }, { "rules", required_argument, 0, 'r' },
        { "print", no_argument, 0, 'p' }, { 0, 0, 0, 0 } };
    const char *path = cli_default_config(), *rules = NULL;
    int print = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:r:p", longopts, NULL)) != -1) {
        switch (c) {
        case 'c': path = optarg; break;
        case 'r': rules = optarg; break;
        case 'p': print = 1; break;
        default: return EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "ezsync check: unexpected argument '%s'\n", argv[optind]);
        return EXIT_USAGE;
    }
    struct config cfg;
    int rc = cli_load_config(&cfg, path);
    if (rc) return rc;
    if (print) config_print(&cfg, stdout);
    printf("%s: configuration ok\n", path);
    /* rules: load + validate + self_check, then luacheck; problems name file:line */
    rc = rules_check(&cfg, rules) ? EXIT_USAGE : EXIT_OK;
    config_free(&cfg);
    return rc;
}

static const struct cli_command commands[] = {
    { "serve", service_cmd_serve, "run the service (webhook receiver, engine, admin)",
      "usage: ezsync serve [-c FILE] [--ready-file FILE]\n"
      "  -c, --config FILE   configuration (default $EZSYNC_CONFIG or ./ezsync.conf.lua)\n"
      "  --ready-file FILE   once listening, write the bound addresses there as JSON\n"
      "                      ({\"pid\":N,\"public\":\"host:port\",\"admin\":\"host:port\"|null})\n"
      "Runs until SIGTERM/SIGINT (graceful: in-flight requests finish). SIGHUP reloads rules.\n" },
    { "check", cmd_check, "validate configuration and rules, then exit",
      "usage: ezsync check [-c FILE] [--rules DIR] [--print]\n"
      "  -c, --config FILE   configuration (default $EZSYNC_CONFIG or ./ezsync.conf.lua)\n"
      "  -r, --rules DIR     rules directory (default: rules.dir of the configuration)\n"
      "  -p, --print         print the effective configuration (secrets shown as (set))\n"
      "Exit 0 when everything loads; 2 with file:line and the reason otherwise.\n" },
    { "dlq", dlq_cmd, "list, show, retry or drop dead-lettered jobs", dlq_usage },
    { "record", record_cmd, "tap the service database into a recording for dry-run",
      record_usage },
    { "dry-run", dryrun_cmd, "replay a recording through the rules with no side effect",
      dryrun_usage },
    { "version", cmd_version, "print the version", "usage: ezsync version\n" },
    { "help", cmd_help, "show help for a command, or `help config` for the configuration keys",
      "usage: ezsync help [COMMAND | config]\n" },
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *out)
{
    fprintf(out, "usage: ezsync <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\n`ezsync <command> --help` for a command's options; `ezsync help config` for "
                 "the configuration keys.\n");
}

static const struct cli_command *find_command(const char *name)
{
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0) return &commands[i];
    return NULL;
}

static int cmd_help(int argc, char **argv)
{
    if (argc < 2) {
        usage(stdout);
        return EXIT_OK;
    }
    if (strcmp(argv[1], "config") == 0) {
        config_print_help(stdout);
        return EXIT_OK;
    }
    const struct cli_command *cmd = find_command(argv[1]);
    if (!cmd) {
        fprintf(stderr, "ezsync help: unknown command '%s'\n", argv[1]);
        return EXIT_USAGE;
    }
    fputs(cmd->usage, stdout);
    return EXIT_OK;
}

int main(int argc, char **argv)
{
    /* With TZ unset, glibc's mktime (Lua's os.time, once per order in the order rule) stats
     * /etc/localtime on every call to see whether it changed: ~5 % of a dry-run, and a
     * syscall per order on the service's loop. Naming that same file in TZ gives the same zone,
     * read once (a changed system zone then needs a restart). For every command, so the
     * service and its dry-run compute dates alike; before any thread exists (setenv is not
     * thread-safe); an explicit TZ is left alone. */
    if (!getenv("TZ")) setenv("TZ", ":/etc/localtime", 0);
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        usage(stdout);
        return EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0) return cmd_version(0, NULL);
    const struct cli_command *cmd = find_command(argv[1]);
    if (!cmd) {
        fprintf(stderr, "ezsync: unknown command '%s'\n", argv[1]);
        usage(stderr);
        return EXIT_USAGE;
    }
    if (cli_wants_help(argc - 1, argv + 1)) {
        fputs(cmd->usage, stdout);
        return EXIT_OK;
    }
    return cmd->run(argc - 1, argv + 1);
}
