/* cli: see cli.h. */
#include "cli.h"

#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *cli_default_config(void)
{
    const char *p = getenv("EZSYNC_CONFIG");
    return p && *p ? p : "ezsync.conf.lua";
}

int cli_load_config(struct config *cfg, const char *path)
{
    char err[1024];
    config_defaults(cfg);
    if (config_load(cfg, path, err, sizeof err)) {
        fprintf(stderr, "ezsync: configuration error: %s\n", err);
        config_free(cfg);
        return EXIT_USAGE;
    }
    enum log_level lv = LOG_INFO;
    enum log_format lf = LOG_LOGFMT;
    log_level_parse(cfg->log_level, &lv);
    log_format_parse(cfg->log_format, &lf);
    log_setup(lv, lf, NULL);
    config_register_secrets(cfg);
    return EXIT_OK;
}

int cli_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) break;
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) return 1;
    }
    return 0;
}
