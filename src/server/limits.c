/* limits.c - HTTP error values and their JSON body, and the byte-level checks every request body passes
 * before its fields are read (size, UTF-8, nesting depth). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/internal.h"

static int vfail(rr_server_error *e, int status, const char *type, const char *limit, long long value,
                 const char *fmt, va_list ap) {
    if (!e) return status;
    e->status = status;
    e->type = type;
    e->limit = limit;
    e->limit_value = value;
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    for (char *p = e->message; *p; p++)
        if (*p == '\n' || *p == '\r') *p = ' ';
    return status;
}

int rr_server_fail(rr_server_error *e, int status, const char *type, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vfail(e, status, type, NULL, 0, fmt, ap);
    va_end(ap);
    return status;
}

int rr_server_fail_limit(rr_server_error *e, int status, const char *limit, long long value, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vfail(e, status, status == 413 ? "payload_too_large" : "unprocessable_entity", limit, value, fmt, ap);
    va_end(ap);
    return status;
}

char *rr_server_error_json(const rr_server_error *e) {
    json_t *err = json_pack("{s:s, s:s, s:i}", "message", e->message, "type", e->type ? e->type : "error",
                            "code", e->status);
    if (err && e->limit) {
        json_object_set_new(err, "limit", json_string(e->limit));
        json_object_set_new(err, "limit_value", json_integer(e->limit_value));
    }
    json_t *root = err ? json_pack("{s:o}", "error", err) : NULL;
    char *s = root ? json_dumps(root, JSON_COMPACT) : NULL;
    json_decref(root);
    if (!s) s = strdup("{\"error\":{\"message\":\"out of memory\",\"type\":\"internal\",\"code\":500}}");
    return s;
}

bool rr_server_utf8_valid(const char *str, size_t n, size_t *bad) {
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t len;
        uint32_t cp, min;
        if (c < 0x80) { i++; continue; }
        else if ((c & 0xE0) == 0xC0) { len = 2; cp = c & 0x1F; min = 0x80; }
        else if ((c & 0xF0) == 0xE0) { len = 3; cp = c & 0x0F; min = 0x800; }
        else if ((c & 0xF8) == 0xF0) { len = 4; cp = c & 0x07; min = 0x10000; }
        else goto fail;
        if (n - i < len) goto fail;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80) goto fail;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) goto fail;
        i += len;
    }
    return true;
fail:
    if (bad) *bad = i;
    return false;
}

int64_t rr_server_now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}
