/* server_client.c - see server_client.h: a child-process server and a small blocking HTTP client. */
#include "server_client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "server/server.h"

/* A test that stops early (REQUIRE) leaves its server running: the next start ends it. */
static pid_t running = 0;

int rr_ts_start(rr_ts_server *s, const char *model_dir, const char *const *args) {
    int p[2];
    memset(s, 0, sizeof *s);
    if (running > 0) {
        kill(running, SIGKILL);
        waitpid(running, NULL, 0);
        running = 0;
    }
    if (pipe(p) != 0) return -1;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the test runner */
        close(p[0]);
        dup2(p[1], 1);
        close(p[1]);
        const char *argv[64] = {"serve", "--model", model_dir, "--port", "0"};
        int argc = 5;
        for (int i = 0; args && args[i] && argc < 63; i++) argv[argc++] = args[i];
        argv[argc] = NULL;
        int rc = rr_serve_main(argc, (char **)argv);
        fflush(stdout);
        _exit(rc);
    }
    close(p[1]);
    s->pid = running = pid;
    s->out_fd = p[0];
    char buf[4096];
    size_t n = 0;
    for (int waited = 0; waited < 20000;) {
        struct pollfd pf = {p[0], POLLIN, 0};
        if (poll(&pf, 1, 100) <= 0) {
            waited += 100;
            continue;
        }
        ssize_t k = read(p[0], buf + n, sizeof buf - 1 - n);
        if (k <= 0) break;
        n += (size_t)k;
        buf[n] = 0;
        const char *l = strstr(buf, "listening on http://");
        if (l && !s->port) {
            const char *colon = strchr(l + strlen("listening on http://"), ':');
            if (colon) s->port = atoi(colon + 1);
        }
        if (strstr(buf, "rerank serve: ready")) return s->port > 0 ? 0 : -1;
        if (n >= sizeof buf - 1) n = 0;
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    close(p[0]);
    s->pid = 0;
    return -1;
}

int rr_ts_stop(rr_ts_server *s) {
    if (!s->pid) return -1;
    running = 0;
    kill(s->pid, SIGTERM);
    int status = 0;
    for (int i = 0; i < 2000; i++) {
        pid_t r = waitpid(s->pid, &status, WNOHANG);
        if (r == s->pid) {
            close(s->out_fd);
            s->pid = 0;
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        }
        usleep(10000);
    }
    kill(s->pid, SIGKILL);
    waitpid(s->pid, NULL, 0);
    close(s->out_fd);
    s->pid = 0;
    return -1;
}

int rr_ts_connect(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {30, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int send_all(int fd, const char *p, size_t n) {
    while (n) {
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
        if (k <= 0) {
            if (k < 0 && errno == EINTR) continue;
            return -1;
        }
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

int rr_ts_exchange(int fd, const char *method, const char *path, const char *extra_headers, const char *body,
                   size_t body_len, rr_ts_response *r) {
    memset(r, 0, sizeof *r);
    char head[2048];
    int hn = snprintf(head, sizeof head, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s%s", method, path,
                      extra_headers ? extra_headers : "", body ? "Content-Type: application/json\r\n" : "");
    if (body) hn += snprintf(head + hn, sizeof head - (size_t)hn, "Content-Length: %zu\r\n", body_len);
    hn += snprintf(head + hn, sizeof head - (size_t)hn, "\r\n");
    if (send_all(fd, head, (size_t)hn) != 0) return -1;
    if (body && body_len && send_all(fd, body, body_len) != 0) return -1;
    return rr_ts_read_response(fd, strcmp(method, "HEAD") == 0, r);
}

int rr_ts_read_response(int fd, int head_only, rr_ts_response *r) {
    memset(r, 0, sizeof *r);
    size_t cap = 8192, n = 0;
    char *buf = malloc(cap);
    char *hend = NULL;
    size_t hoff = 0; /* hend's offset: buf moves when it grows */
    long clen = -1;
    for (;;) {
        if (n + 4096 > cap) {
            buf = realloc(buf, cap *= 2);
            if (hend) hend = buf + hoff;
        }
        ssize_t k = recv(fd, buf + n, cap - n - 1, 0);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) break;
        n += (size_t)k;
        buf[n] = 0;
        if (!hend && (hend = strstr(buf, "\r\n\r\n")) != NULL) {
            hoff = (size_t)(hend - buf);
            const char *cl = strcasestr(buf, "\r\nContent-Length:");
            if (cl && cl < hend) clen = atol(cl + 17);
            if (head_only || strncmp(buf + 9, "204", 3) == 0) clen = 0;
        }
        if (hend && clen >= 0 && n >= (size_t)(hend - buf) + 4 + (size_t)clen) break;
    }
    if (!hend || n < 12) {
        free(buf);
        return -1;
    }
    r->status = atoi(buf + 9);
    size_t hl = (size_t)(hend - buf) + 2;
    r->headers = malloc(hl + 1);
    memcpy(r->headers, buf, hl);
    r->headers[hl] = 0;
    size_t bl = n - (hl + 2);
    if (clen >= 0 && bl > (size_t)clen) bl = (size_t)clen;
    r->body = malloc(bl + 1);
    memcpy(r->body, hend + 4, bl);
    r->body[bl] = 0;
    r->body_len = bl;
    free(buf);
    return 0;
}

int rr_ts_request(int port, const char *method, const char *path, const char *extra_headers, const char *body,
                  rr_ts_response *r) {
    int fd = rr_ts_connect(port);
    if (fd < 0) {
        memset(r, 0, sizeof *r);
        return -1;
    }
    int rc = rr_ts_exchange(fd, method, path, extra_headers, body, body ? strlen(body) : 0, r);
    close(fd);
    return rc;
}

int rr_ts_raw(int port, const char *raw, size_t len, rr_ts_response *r) {
    int fd = rr_ts_connect(port);
    memset(r, 0, sizeof *r);
    if (fd < 0) return -1;
    int rc = send_all(fd, raw, len) == 0 ? rr_ts_read_response(fd, 0, r) : -1;
    close(fd);
    return rc;
}

const char *rr_ts_header(const rr_ts_response *r, const char *name) {
    static _Thread_local char val[256];
    if (!r->headers) return NULL;
    size_t nl = strlen(name);
    for (const char *p = strstr(r->headers, "\r\n"); p && p[2]; p = strstr(p + 2, "\r\n")) {
        if (strncasecmp(p + 2, name, nl) == 0 && p[2 + nl] == ':') {
            const char *v = p + 3 + nl;
            while (*v == ' ') v++;
            size_t k = strcspn(v, "\r\n");
            snprintf(val, sizeof val, "%.*s", (int)k, v);
            return val;
        }
    }
    return NULL;
}

void rr_ts_response_free(rr_ts_response *r) {
    free(r->headers);
    free(r->body);
    memset(r, 0, sizeof *r);
}
