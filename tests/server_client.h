/* server_client.h - test helpers for the HTTP server: start `rerank serve` in a child process on an
 * ephemeral loopback port, and a minimal HTTP/1.1 client over sockets (keep-alive capable). */
#ifndef RR_TEST_SERVER_CLIENT_H
#define RR_TEST_SERVER_CLIENT_H

#include <stddef.h>
#include <sys/types.h>

typedef struct rr_ts_server {
    pid_t pid;
    int port;
    int out_fd; /* the child's stdout */
} rr_ts_server;

typedef struct rr_ts_response {
    int status;
    char *headers; /* raw header block, NUL-terminated */
    char *body;    /* NUL-terminated */
    size_t body_len;
} rr_ts_response;

/* Starts the server with "--model DIR --port 0" plus args (NULL-terminated); waits for "ready". */
int rr_ts_start(rr_ts_server *s, const char *model_dir, const char *const *args);
/* SIGTERM, then the exit status (or -1 if it did not exit within 20 s). */
int rr_ts_stop(rr_ts_server *s);

/* A connection to 127.0.0.1:port; -1 on failure. */
int rr_ts_connect(int port);
/* Sends one request on fd and reads one response; extra_headers are "Name: value\r\n" lines or NULL.
 * Returns 0 on success, -1 if the connection failed or closed early. */
int rr_ts_exchange(int fd, const char *method, const char *path, const char *extra_headers, const char *body,
                   size_t body_len, rr_ts_response *r);
/* One request on a fresh connection. */
int rr_ts_request(int port, const char *method, const char *path, const char *extra_headers, const char *body,
                  rr_ts_response *r);
/* Reads one response from fd (head_only: no body, as for HEAD). */
int rr_ts_read_response(int fd, int head_only, rr_ts_response *r);
/* Sends raw bytes (a whole request, headers as given) on a fresh connection and reads one response. */
int rr_ts_raw(int port, const char *raw, size_t len, rr_ts_response *r);
/* Value of a response header (case-insensitive name) in a static buffer, or NULL. */
const char *rr_ts_header(const rr_ts_response *r, const char *name);
void rr_ts_response_free(rr_ts_response *r);

#endif
