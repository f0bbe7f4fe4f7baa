/* error.c - status strings and the error carrier. */
#include "base/error.h"

#include <stdarg.h>
#include <stdio.h>

static const char *const status_strings[] = {
    [RERANK_OK] = "ok",
    [RERANK_ERR_INVALID_ARGUMENT] = "invalid argument",
    [RERANK_ERR_IO] = "i/o error",
    [RERANK_ERR_FORMAT] = "format error",
    [RERANK_ERR_UNSUPPORTED] = "unsupported",
    [RERANK_ERR_INPUT] = "invalid input",
    [RERANK_ERR_NOMEM] = "out of memory",
    [RERANK_ERR_INTERNAL] = "internal error",
    [RERANK_ERR_NOT_FOUND] = "not found",
    [RERANK_ERR_ACCESS] = "access denied",
    [RERANK_ERR_NETWORK] = "network error",
};
_Static_assert(sizeof status_strings / sizeof status_strings[0] == RERANK_STATUS_COUNT,
               "status_strings must name every rerank_status");

const char *rerank_status_string(rerank_status status) {
    if ((unsigned)status >= RERANK_STATUS_COUNT) return "unknown status";
    return status_strings[status];
}

/* Replaces control characters (newlines from user text, say) so a message stays one line. */
static void one_line(char *s) {
    for (; *s; s++)
        if ((unsigned char)*s < 0x20) *s = ' ';
}

rerank_status rr_fail(rerank_error *err, rerank_status status, const char *fmt, ...) {
    if (err) {
        err->status = status;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
        one_line(err->message);
    }
    return status;
}

void rr_error_prefix(rerank_error *err, const char *fmt, ...) {
    if (!err) return;
    char prefix[256], old[sizeof err->message];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    snprintf(old, sizeof old, "%s", err->message);
    snprintf(err->message, sizeof err->message, "%s: %s", prefix, old);
    one_line(err->message);
}

void rr_error_clear(rerank_error *err) {
    if (!err) return;
    err->status = RERANK_OK;
    err->message[0] = '\0';
}
