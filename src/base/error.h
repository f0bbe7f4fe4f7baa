/* error.h - filling a rerank_error: every fallible internal function returns a rerank_status and writes a
 * one-line message through rr_fail(). */
#ifndef RR_BASE_ERROR_H
#define RR_BASE_ERROR_H

#include "rerank.h"

#if defined(__GNUC__)
#define RR_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define RR_PRINTF(a, b)
#endif

/* Sets err (may be NULL) to status and the formatted message; returns status so callers can write
 * `return rr_fail(err, RERANK_ERR_FORMAT, "%s: ...", path);`. */
rerank_status rr_fail(rerank_error *err, rerank_status status, const char *fmt, ...) RR_PRINTF(3, 4);

/* Prefixes an existing message with "prefix: " (keeps it one line, truncating if needed). */
void rr_error_prefix(rerank_error *err, const char *fmt, ...) RR_PRINTF(2, 3);

/* Clears err to RERANK_OK with an empty message. */
void rr_error_clear(rerank_error *err);

#endif
