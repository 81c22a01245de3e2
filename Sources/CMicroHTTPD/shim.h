#ifndef TOKENSCAN_CMICROHTTPD_SHIM_H
#define TOKENSCAN_CMICROHTTPD_SHIM_H
#include <stdarg.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <microhttpd.h>

/* MHD_start_daemon and MHD_get_daemon_info are variadic, which Swift cannot call: typed wrappers for
 * exactly the options the server sets. */

/* MHD_OPTION_URI_LOG_CALLBACK has no typedef in microhttpd.h. Its result becomes the request's *con_cls. */
typedef void *(*CTokenscan_MHD_UriLogCallback)(void *cls, const char *uri, struct MHD_Connection *connection);

typedef struct CTokenscan_MHD_Settings {
    unsigned int flags;                      /* MHD_FLAG bits */
    const struct sockaddr *address;          /* sockaddr_in or sockaddr_in6, copied by MHD at bind */
    unsigned int thread_pool_size;
    unsigned int connection_limit;
    unsigned int connection_timeout;         /* seconds */
    size_t connection_memory_limit;          /* bytes */
    MHD_AccessHandlerCallback access_handler;
    void *access_handler_cls;
    MHD_RequestCompletedCallback completed;
    void *completed_cls;
    CTokenscan_MHD_UriLogCallback uri_log;
    void *uri_log_cls;
    MHD_LogCallback logger;
    void *logger_cls;
} CTokenscan_MHD_Settings;

static inline struct MHD_Daemon *CTokenscan_MHD_start_daemon(const CTokenscan_MHD_Settings *s) {
    return MHD_start_daemon(s->flags, 0, NULL, NULL, s->access_handler, s->access_handler_cls,
                            MHD_OPTION_EXTERNAL_LOGGER, s->logger, s->logger_cls,
                            MHD_OPTION_SOCK_ADDR, s->address,
                            MHD_OPTION_THREAD_POOL_SIZE, s->thread_pool_size,
                            MHD_OPTION_CONNECTION_LIMIT, s->connection_limit,
                            MHD_OPTION_CONNECTION_TIMEOUT, s->connection_timeout,
                            MHD_OPTION_CONNECTION_MEMORY_LIMIT, s->connection_memory_limit,
                            MHD_OPTION_NOTIFY_COMPLETED, s->completed, s->completed_cls,
                            MHD_OPTION_URI_LOG_CALLBACK, s->uri_log, s->uri_log_cls,
                            MHD_OPTION_END);
}

/* The port the daemon listens on (the one the kernel picked when asked for port 0); 0 when unknown. */
static inline uint16_t CTokenscan_MHD_bound_port(struct MHD_Daemon *daemon) {
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_BIND_PORT);
    return info == NULL ? 0 : info->port;
}
#endif
