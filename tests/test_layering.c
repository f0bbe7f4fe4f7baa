/* test_layering.c - scripts/check-layering.sh (run by `make check`) on a small tree of its own: it accepts
 * includes that follow DESIGN.md's dependency direction and names the file, line and header of each that
 * does not, and each public function of rerank.h declared without RERANK_API. */
#include <stdlib.h>
#include <sys/stat.h>

#include "golden.h"
#include "test.h"

/* Writes `text` to root/rel, creating its folder. */
static int put(const char *root, const char *rel, const char *text) {
    char path[1024], cmd[1200];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    snprintf(cmd, sizeof cmd, "mkdir -p \"$(dirname '%s')\"", path);
    if (system(cmd) != 0) return -1;
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fputs(text, f);
    return fclose(f);
}

static int run_checker(const char *root, char **out) {
    char cmd[1100], *err = NULL;
    snprintf(cmd, sizeof cmd, "scripts/check-layering.sh '%s'", root);
    int rc = run_command(cmd, NULL, out, &err);
    free(err);
    return rc;
}

TEST(layering_checker_accepts_and_rejects) {
    char root[] = "/tmp/rr_layeringXXXXXX";
    REQUIRE(mkdtemp(root));
    REQUIRE(put(root, "src/base/error.h", "#include <stddef.h>\n") == 0);
    REQUIRE(put(root, "src/arch/model.c", "#include \"rerank.h\"\n#include \"base/error.h\"\n"
                                          "#include \"model.h\"\n") == 0);
    REQUIRE(put(root, "src/arch/model.h", "#include \"kernels/kernels.h\"\n") == 0);
    REQUIRE(put(root, "tools/cli.c", "#include \"rerank.h\"\n#include \"cli.h\"\n#include \"server/server.h\"\n") == 0);
    REQUIRE(put(root, "tools/cli.h", "#include <stdio.h>\n") == 0);
    REQUIRE(put(root, "include/rerank.h", "RERANK_API const char *rerank_status_string(int status);\n") == 0);
    char *out = NULL;
    CHECK(run_checker(root, &out) == 0, "%s", out);
    free(out);

    /* upward (base -> arch), sideways (tok -> io), a tool reaching into src/, a confined system header */
    REQUIRE(put(root, "src/base/json.c", "#include <stdio.h>\n\n#include \"arch/model.h\"\n") == 0);
    REQUIRE(put(root, "src/tok/bpe.c", "#include \"io/safetensors.h\"\n") == 0);
    REQUIRE(put(root, "tools/cli.c", "#include \"rerank.h\"\n#include \"train/loop.h\"\n"
                                     "#include \"server/internal.h\"\n") == 0);
    REQUIRE(put(root, "src/score/api.c", "#include <mpi.h>\n") == 0);
    REQUIRE(put(root, "include/rerank.h", "RERANK_API void rerank_a(void);\nconst char *rerank_b(int x);\n") == 0);
    CHECK(run_checker(root, &out) == 1);
    CHECK(out && strstr(out, "src/base/json.c:3: base includes \"arch/model.h\""), "%s", out);
    CHECK(out && strstr(out, "src/tok/bpe.c:1: tok includes \"io/safetensors.h\""), "%s", out);
    CHECK(out && strstr(out, "tools/cli.c:2: tools includes \"train/loop.h\""), "%s", out);
    CHECK(out && strstr(out, "tools/cli.c:3: tools includes \"server/internal.h\""), "%s", out);
    CHECK(out && strstr(out, "src/score/api.c:1: score includes <mpi.h>"), "%s", out);
    CHECK(out && strstr(out, "include/rerank.h:2: public function without RERANK_API: const char *rerank_b("), "%s",
          out);
    CHECK(out && !strstr(out, "rerank_a"), "%s", out);
    free(out);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    CHECK(system(cmd) == 0);
}
