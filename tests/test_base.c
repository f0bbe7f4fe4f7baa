/* test_base.c - utf8, vectors, errors and JSON helpers. */
#include "base/error.h"
#include "base/json.h"
#include "base/utf8.h"
#include "base/vec.h"
#include "test.h"

TEST(utf8_strict_decoding) {
    int32_t cp = 0;
    CHECK(rr_utf8_decode((const unsigned char *)"\xE2\x96\x81", 3, &cp) == 3 && cp == 0x2581);
    CHECK(rr_utf8_decode((const unsigned char *)"\xC0\xAF", 2, &cp) == 0, "overlong");
    CHECK(rr_utf8_decode((const unsigned char *)"\xED\xA0\x80", 3, &cp) == 0, "surrogate");
    CHECK(rr_utf8_decode((const unsigned char *)"\xF4\x90\x80\x80", 4, &cp) == 0, "above U+10FFFF");
    CHECK(rr_utf8_decode((const unsigned char *)"\xE2\x96", 2, &cp) == 0, "truncated");
    size_t bad = 0;
    CHECK(!rr_utf8_valid("ab\xFF" "c", 4, &bad) && bad == 2);
    CHECK(rr_utf8_valid("\xF0\x9F\xA6\x99 ok", 7, NULL));
    char buf[4];
    CHECK(rr_utf8_encode(0x1F999, buf) == 4 && memcmp(buf, "\xF0\x9F\xA6\x99", 4) == 0);
}

TEST(vec_grows_and_keeps_contents) {
    rr_i32vec v = {0};
    for (int i = 0; i < 1000; i++) CHECK(rr_i32vec_push(&v, i) == RERANK_OK);
    CHECK(v.n == 1000 && v.data[999] == 999);
    rr_i32vec_free(&v);
    rr_bytes b = {0};
    CHECK(rr_bytes_append(&b, "abc", 3) == RERANK_OK && b.n == 3 && strcmp(b.data, "abc") == 0);
    rr_bytes_free(&b);
}

TEST(error_messages_are_one_line) {
    rerank_error e;
    CHECK(rr_fail(&e, RERANK_ERR_FORMAT, "bad\nthing %d", 7) == RERANK_ERR_FORMAT);
    CHECK(strcmp(e.message, "bad thing 7") == 0, "got '%s'", e.message);
    rr_error_prefix(&e, "file.json");
    CHECK(strcmp(e.message, "file.json: bad thing 7") == 0, "got '%s'", e.message);
    CHECK(strcmp(rerank_status_string(RERANK_ERR_IO), "i/o error") == 0);
}

TEST(json_errors_name_the_field) {
    rerank_error e;
    json_t *j;
    CHECK(rr_json_parse("{\"a\": [1,", 9, "x.json", &j, &e) == RERANK_ERR_FORMAT);
    CHECK(strstr(e.message, "x.json: invalid JSON at line 1") != NULL, "got '%s'", e.message);
    REQUIRE(rr_json_parse("{\"n\": 3, \"s\": \"x\", \"f\": 512.0}", 30, "c.json", &j, &e) == RERANK_OK, "%s", e.message);
    long long n;
    CHECK(rr_json_get_int(j, "n", true, 0, &n, "c.json", &e) == RERANK_OK && n == 3);
    CHECK(rr_json_get_int(j, "f", true, 0, &n, "c.json", &e) == RERANK_OK && n == 512);
    CHECK(rr_json_get_int(j, "s", true, 0, &n, "c.json", &e) == RERANK_ERR_FORMAT);
    CHECK(strcmp(e.message, "c.json: field 's' must be an integer") == 0, "got '%s'", e.message);
    CHECK(rr_json_get_int(j, "missing", true, 0, &n, "c.json", &e) == RERANK_ERR_FORMAT);
    CHECK(rr_json_get_int(j, "missing", false, 42, &n, "c.json", &e) == RERANK_OK && n == 42);
    json_decref(j);
    /* deep nesting is refused, not a stack overflow */
    size_t depth = 100000;
    char *deep = malloc(depth);
    memset(deep, '[', depth);
    CHECK(rr_json_parse(deep, depth, "deep", &j, &e) == RERANK_ERR_FORMAT);
    free(deep);
}
