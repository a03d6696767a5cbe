/* dlq: dead letters for people: `ezsync dlq list|show|retry|drop` and the JSON views of jobs
 * that the CLI and the admin API (through engine_jobs_list) share. Uses only the store. */
#ifndef EZ_DLQ_H
#define EZ_DLQ_H

#include <stdint.h>

struct store;

/* Jobs in state (< 0: all), newest first, as a JSON array; *out is malloc'd. 0 or -1. */
int dlq_jobs_json(struct store *st, int state, int limit, char **out);
/* One job with its event body and journal, as a JSON object. 0, STORE_NOTFOUND or -1. */
int dlq_job_json(struct store *st, int64_t id, char **out);

/* `ezsync dlq ...`: exit 0 ok, 1 runtime failure (no such dead job, database error),
 * 2 usage. */
int dlq_cmd(int argc, char **argv);
extern const char dlq_usage[];

#endif
