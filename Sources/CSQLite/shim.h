#ifndef TOKENSCAN_CSQLITE_SHIM_H
#define TOKENSCAN_CSQLITE_SHIM_H
#include <sqlite3.h>

/* SQLITE_TRANSIENT is a macro casting -1 to a function pointer. */
static inline int CTokenscan_sqlite3_bind_text_transient(sqlite3_stmt *s, int i, const char *v, int n) {
    return sqlite3_bind_text(s, i, v, n, SQLITE_TRANSIENT);
}
static inline int CTokenscan_sqlite3_bind_blob_transient(sqlite3_stmt *s, int i, const void *v, int n) {
    return sqlite3_bind_blob(s, i, v, n, SQLITE_TRANSIENT);
}
/* sqlite3_config is variadic. Memory statistics cost a global mutex on every allocation; nothing here
   reads them. Must run before SQLite initializes (answers SQLITE_MISUSE afterwards, harmlessly). */
static inline int CTokenscan_sqlite3_disable_memstatus(void) {
    return sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}
#endif
