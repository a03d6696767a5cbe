/* cli: what every command shares: exit codes, option parsing helpers and config loading.
 * Commands live in their subsystem (cmd_<name> functions) and are listed in main.c. */
#ifndef EZ_CLI_H
#define EZ_CLI_H

#include "config.h"

enum { EXIT_OK = 0, EXIT_RUNTIME = 1, EXIT_USAGE = 2 };

struct cli_command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
    const char *usage;   /* full --help text */
};

/* Returns the default config path: $EZSYNC_CONFIG, else ./ezsync.conf.lua. */
const char *cli_default_config(void);

/* Defaults + file + log setup + secret registration. Prints the error and returns EXIT_USAGE
 * on failure (a bad config is a configuration error), else EXIT_OK. */
int cli_load_config(struct config *cfg, const char *path);

/* True when argv has -h or --help anywhere (before "--"). */
int cli_wants_help(int argc, char **argv);

#endif
