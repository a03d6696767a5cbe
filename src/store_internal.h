/* store_internal: what the store*.c files share (the SQLite handle and the statement cache).
 * Not for use outside store*.c. */
#ifndef EZ_STORE_INTERNAL_H
#define EZ_STORE_INTERNAL_H

#include "store.h"

#include <sqlite3.h>
#include <time.h>

#define STORE_MAX_STMTS 96

struct store {
    sqlite3 *db;
    int tx_depth;
    int tx_failed;               /* an inner step failed: the outer commit rolls back */
    char err[512];
    struct { const char *sql; sqlite3_stmt *stmt; } stmts[STORE_MAX_STMTS];
    int nstmts;
    int busy_ms;                 /* how long a write waits for another connection's lock */
    struct timespec busy_since;  /* when the current wait began */
};

/* Prepared once per distinct SQL literal (cached by its address), reset before return. */
sqlite3_stmt *store_stmt(struct store *st, const char *sql);
int store_fail(struct store *st, const char *what);
/* Binds text, or NULL when s is NULL. */
void store_bind_text(sqlite3_stmt *s, int i, const char *v);
char *store_column_dup(sqlite3_stmt *s, int i);

#endif
