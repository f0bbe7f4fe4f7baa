/* utf8.h - strict UTF-8 decoding (no overlongs, no surrogates, max U+10FFFF). */
#ifndef RR_BASE_UTF8_H
#define RR_BASE_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Decodes one code point from s[0..n); returns its byte length (1-4), or 0 if the bytes there are not
 * valid UTF-8 (then *cp is untouched). */
size_t rr_utf8_decode(const unsigned char *s, size_t n, int32_t *cp);

/* Encodes cp (must be valid) into buf (4 bytes); returns the length. */
size_t rr_utf8_encode(int32_t cp, char *buf);

/* True if all n bytes are valid UTF-8; otherwise *bad_offset (may be NULL) gets the first bad byte. */
bool rr_utf8_valid(const char *s, size_t n, size_t *bad_offset);

#endif
