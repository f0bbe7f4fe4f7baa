/* test_server_clients.c - client code nobody here wrote, against `rerank serve` on 127.0.0.1: the npm
 * cohere-ai SDK (tests/clients/cohere.mjs, when `npm ci` has run in tests/clients) and Python's urllib
 * (tests/clients/urllib_client.py, when python3 is installed); each is skipped with its reason otherwise.
 * The exact requests other clients send (@langchain/cohere, @llamaindex/cohere, Jina, TEI) are replayed
 * byte for byte in test_server_recorded.c. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "server_client.h"
#include "test.h"

#define MODEL "testdata/xlmr-seqcls-tiny"

/* Runs cmd (a client script given the server's base URL); returns its exit status, its output in out. */
static int run_client(const char *cmd, char *out, size_t out_size) {
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    size_t n = 0;
    out[0] = 0;
    while (n + 1 < out_size) {
        size_t k = fread(out + n, 1, out_size - 1 - n, p);
        if (k == 0) break;
        n += k;
    }
    out[n] = 0;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static bool have_program(const char *name) {
    char cmd[256];
    snprintf(cmd, sizeof cmd, "command -v %s >/dev/null 2>&1", name);
    return system(cmd) == 0;
}

TEST(server_real_client_cohere_ai_npm_sdk) {
    if (access("tests/clients/node_modules/cohere-ai/package.json", R_OK) != 0 || !have_program("node")) {
        printf("    skip: cohere-ai SDK not installed (run `npm ci` in tests/clients; scripts/install-deps.sh does)\n");
        CHECK(access("tests/clients/cohere.mjs", R_OK) == 0, "the client script is in the repository");
        return;
    }
    rr_ts_server s;
    const char *args[] = {"--max-body-bytes", "65536", NULL};
    REQUIRE(rr_ts_start(&s, rr_shared_path(MODEL), args) == 0);
    char cmd[256], out[8192];
    snprintf(cmd, sizeof cmd, "node tests/clients/cohere.mjs http://127.0.0.1:%d 2>&1", s.port);
    int rc = run_client(cmd, out, sizeof out);
    CHECK(rc == 0 && strstr(out, "ok "), "cohere-ai SDK client exited %d:\n%s", rc, out);
    CHECK(rr_ts_stop(&s) == 0);
}

TEST(server_real_client_python_urllib) {
    if (!have_program("python3")) {
        printf("    skip: python3 not installed\n");
        CHECK(access("tests/clients/urllib_client.py", R_OK) == 0, "the client script is in the repository");
        return;
    }
    rr_ts_server s;
    const char *args[] = {"--max-body-bytes", "65536", NULL};
    REQUIRE(rr_ts_start(&s, rr_shared_path(MODEL), args) == 0);
    char cmd[256], out[8192];
    snprintf(cmd, sizeof cmd, "python3 tests/clients/urllib_client.py http://127.0.0.1:%d 2>&1", s.port);
    int rc = run_client(cmd, out, sizeof out);
    CHECK(rc == 0 && strstr(out, "ok "), "urllib client exited %d:\n%s", rc, out);
    CHECK(rr_ts_stop(&s) == 0);
}
