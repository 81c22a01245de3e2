#ifndef TOKENSCAN_CLIBPQ_SHIM_H
#define TOKENSCAN_CLIBPQ_SHIM_H
#include <libpq-fe.h>

/* PG_DIAG_SQLSTATE is a character-literal macro, which Swift does not import. */
static inline const char *CTokenscan_PQsqlstate(const PGresult *res) {
    return PQresultErrorField(res, PG_DIAG_SQLSTATE);
}

/* A notice processor that drops notices (libpq's default prints them to stderr). */
static inline void CTokenscan_PQignoreNotice(void *arg, const char *message) { (void)arg; (void)message; }
static inline void CTokenscan_PQsilenceNotices(PGconn *conn) {
    PQsetNoticeProcessor(conn, CTokenscan_PQignoreNotice, NULL);
}
#endif
