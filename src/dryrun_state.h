/* dryrun_state: the rule state (ez.idmap, ez.kv) of a dry-run, in memory. The dry-run used an
 * in-memory SQLite store for it, and each idmap/kv call then cost an SQL statement; hash
 * tables answer the same calls for a fraction of that. Answers are those of store_state.c:
 * idmap put upserts (a link keeps its age when its OrderEZ id changes), a reverse lookup gives
 * the oldest link, kv put upserts and delete removes. Plugs into rules_ctx.state. */
#ifndef EZ_DRYRUN_STATE_H
#define EZ_DRYRUN_STATE_H

struct dryrun_state;
struct rules_state_ops;

struct dryrun_state *dryrun_state_new(void);
void dryrun_state_free(struct dryrun_state *s);

/* An attempt: the writes from dryrun_state_begin() on are kept (commit, or the next begin) or
 * undone (rollback: every value, and every link's age, as before the begin), so an event
 * that must run again (RULES_RETRY) starts from the state it first saw. */
void dryrun_state_begin(struct dryrun_state *s);
void dryrun_state_commit(struct dryrun_state *s);
void dryrun_state_rollback(struct dryrun_state *s);

/* The functions rules_ctx.state points at, with the state as their ud. */
extern const struct rules_state_ops dryrun_state_ops;

#endif
