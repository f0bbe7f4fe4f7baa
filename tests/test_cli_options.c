/* test_cli_options.c - the CLI's one option table (tools/options.h): the table is consistent (one row per
 * spelling and command, every required option exists), every command's --help lists each of its options and
 * old spellings, values parse the same as --opt value and --opt=value, and bad options are one-line usage
 * errors (exit 2) naming the option, the value and the command's own --help. */
#include <stdlib.h>

#include "../tools/options.h"
#include "golden.h"
#include "test.h"

static int run_cli(const char *args, const char *input, char **out, char **err) {
    const char *c = getenv("RERANK_CLI");
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s %s", c && *c ? c : "build/rerank", args);
    return run_command(cmd, input, out, err);
}

static size_t count_lines(const char *s) {
    size_t n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

/* Does the comma-separated list contain name? */
static bool in_list(const char *list, const char *name) {
    size_t n = strlen(name);
    for (const char *s = list; s && *s;) {
        size_t len = strcspn(s, ",");
        if (len == n && !strncmp(s, name, n)) return true;
        s += len + (s[len] == ',');
    }
    return false;
}

static bool spells(const rr_opt *o, const char *name) { return !strcmp(o->name, name) || in_list(o->aliases, name); }

TEST(cli_options_table_is_consistent) {
    unsigned all = 0;
    for (size_t c = 0; c < rr_cli_n_commands; c++) all |= rr_cli_commands[c].bit;
    for (size_t i = 0; i < rr_cli_n_options; i++) {
        const rr_opt *o = &rr_cli_options[i];
        CHECK(o->name && o->help && *o->help, "row %zu", i);
        CHECK(o->cmds && (o->cmds & ~all) == 0, "--%s: unknown command bits", o->name);
        CHECK(o->offset < sizeof(rr_cli_args), "--%s", o->name);
        bool value = o->kind != RR_OPT_FLAG && o->kind != RR_OPT_FLAG_OFF;
        CHECK(!value || o->metavar || o->kind == RR_OPT_ENUM, "--%s has no metavar", o->name);
        CHECK((o->kind == RR_OPT_ENUM) == (o->choices != NULL), "--%s", o->name);
        CHECK(o->min <= o->max && o->fmin <= o->fmax, "--%s", o->name);
        CHECK(o->short_name != 'h' && strcmp(o->name, "help"), "--%s: -h and --help are the help", o->name);
        /* a spelling means one row for any one command */
        for (size_t j = 0; j < i; j++) {
            const rr_opt *p = &rr_cli_options[j];
            if (!(o->cmds & p->cmds)) continue;
            CHECK(!spells(p, o->name), "--%s: two rows for one command", o->name);
            for (const char *s = o->aliases; s && *s;) {
                size_t len = strcspn(s, ",");
                char alias[64];
                snprintf(alias, sizeof alias, "%.*s", (int)len, s);
                CHECK(!spells(p, alias), "alias --%s of --%s is also --%s", alias, o->name, p->name);
                s += len + (s[len] == ',');
            }
            CHECK(!o->short_name || o->short_name != p->short_name, "-%c twice", o->short_name);
        }
    }
    /* every required option is one the command takes */
    for (size_t c = 0; c < rr_cli_n_commands; c++) {
        const rr_cli_command *cmd = &rr_cli_commands[c];
        CHECK(cmd->name && cmd->summary && cmd->synopsis, "command %zu", c);
        CHECK(rr_cli_command_find(cmd->name) == cmd);
        for (const char *s = cmd->required; s && *s;) {
            size_t len = strcspn(s, ",");
            bool found = false;
            for (size_t i = 0; i < rr_cli_n_options; i++)
                found |= (rr_cli_options[i].cmds & cmd->bit) && strlen(rr_cli_options[i].name) == len &&
                         !strncmp(rr_cli_options[i].name, s, len);
            CHECK(found, "%s requires --%.*s, which it does not take", cmd->name, (int)len, s);
            s += len + (s[len] == ',');
        }
    }
}

TEST(cli_options_help_lists_every_option) {
    for (size_t c = 0; c < rr_cli_n_commands; c++) {
        const rr_cli_command *cmd = &rr_cli_commands[c];
        char *text = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&text, &size);
        REQUIRE(f);
        rr_cli_print_help(cmd, f);
        fclose(f);
        char want[128];
        snprintf(want, sizeof want, "usage: rerank %s ", cmd->name);
        CHECK(strstr(text, want), "%s", text);
        for (size_t i = 0; i < rr_cli_n_options; i++) {
            const rr_opt *o = &rr_cli_options[i];
            if (!(o->cmds & cmd->bit)) continue;
            snprintf(want, sizeof want, "--%s", o->name);
            CHECK(strstr(text, want), "rerank %s --help lacks %s", cmd->name, want);
            for (const char *s = o->aliases; s && *s;) {
                size_t len = strcspn(s, ",");
                snprintf(want, sizeof want, "--%.*s", (int)len, s);
                CHECK(strstr(text, want), "rerank %s --help lacks the old spelling %s", cmd->name, want);
                s += len + (s[len] == ',');
            }
        }
        for (const char *p = text; *p;) { /* wrapped to the width of a terminal window */
            size_t len = strcspn(p, "\n");
            CHECK(len <= 112, "rerank %s --help: line of %zu characters: %.*s", cmd->name, len, (int)len, p);
            p += len + (p[len] == '\n');
        }
        free(text);
    }
}

TEST(cli_options_parse_values) {
    rr_cli_args a;
    rr_cli_args_init(&a);
    char *argv[] = {"score", "--model=m", "--max-length", "64", "--dtype=fp32", "--cutoff-layers=8,2,8",
                    "--no-prefix-reuse", "--long-doc", "chunk", "--prompt=a=b", NULL};
    REQUIRE(rr_cli_parse("score", 10, argv, &a) == 0);
    const rerank_score_params *sp = rr_cli_score_params(&a);
    CHECK(a.model && !strcmp(a.model, "m") && sp->max_length == 64 && a.mp.dtype == RERANK_DTYPE_F32);
    CHECK(sp->n_cutoff_layers == 2 && sp->cutoff_layers[0] == 2 && sp->cutoff_layers[1] == 8);
    CHECK(!sp->prefix_reuse && sp->long_doc == RERANK_LONG_DOC_CHUNK && !strcmp(sp->prompt, "a=b"));
    CHECK(sp->batch_size == rerank_score_default_params().batch_size); /* untouched: the default */
    /* parsing again in the same process starts afresh (getopt state) */
    rr_cli_args_init(&a);
    char *argv2[] = {"rank", "--query", "q", "--model", "m2", "--top-k=3", NULL};
    REQUIRE(rr_cli_parse("rank", 6, argv2, &a) == 0);
    CHECK(!strcmp(a.query, "q") && !strcmp(a.model, "m2") && a.top_k == 3);
    rr_cli_args_init(&a);
    char *argv3[] = {"score", "--help", NULL};
    fflush(stdout);
    FILE *saved = stdout, *sink = fopen("/dev/null", "w");
    REQUIRE(sink);
    stdout = sink;
    int rc = rr_cli_parse("score", 2, argv3, &a);
    stdout = saved;
    fclose(sink);
    CHECK(rc == -1, "--help: %d", rc);
}

TEST(cli_options_usage_errors) {
    struct {
        const char *args, *want;
    } cases[] = {
        {"score --model m --bogus 1", "unknown option '--bogus' (see rerank score --help)"},
        {"score --model m --bogus=1", "unknown option '--bogus' (see rerank score --help)"},
        {"score --mod m", "unknown option '--mod' (did you mean --model?)"},
        {"score --model m --batch-size 0", "--batch-size expects an integer in [1, 256], got '0'"},
        {"score --model m --batch-size=1x", "--batch-size expects an integer in [1, 256], got '1x'"},
        {"score --model m --dtype=fp16", "--dtype expects auto, f32, bf16 or int8, got 'fp16'"},
        {"score --model m --long-doc", "option --long-doc needs a value"},
        {"score --model m --normalize=yes", "option --normalize takes no value"},
        {"score --model m --cutoff-layers 2,x", "--cutoff-layers expects layer numbers like 28 or 8,16,28, got '2,x'"},
        {"score --model m stray", "unexpected argument 'stray'"},
        {"score --model m -x", "unknown option '-x'"},
        {"score --model m --he", "unknown option '--he' (did you mean --help?)"},
        {"rank --model m", "--query TEXT is required (see rerank rank --help)"},
        {"rank --model m --query q --top-k -1", "--top-k expects an integer in [0, "},
        {"tokenize --query q --model m", "unknown option '--query' (see rerank tokenize --help)"},
        {"convert --model m --dtype int8 --out", "option --out needs a value (see rerank convert --help)"},
        {"convert --model m --out o --dtype auto", "--dtype expects bf16 or int8, got 'auto'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *out, *err;
        int rc = run_cli(cases[i].args, "", &out, &err);
        CHECK(rc == 2 && strncmp(err, "rerank: error: ", 15) == 0 && strstr(err, cases[i].want) &&
                  count_lines(err) == 1 && !*out,
              "rerank %s: exit %d, stderr: %s", cases[i].args, rc, err);
        free(out), free(err);
    }
}

/* --opt=value and --opt value give the same output. */
TEST(cli_options_equals_form_scores_the_same) {
    const char *model = rr_shared_path("testdata/bert-seqcls-tiny");
    const char *input = "{\"query\": \"what is panda?\", \"passage\": \"The giant panda is a bear.\"}\n";
    char args[1024], *a_out, *a_err, *b_out, *b_err;
    snprintf(args, sizeof args, "score --model %s --max-length 16 --normalize", model);
    CHECK(run_cli(args, input, &a_out, &a_err) == 0, "%s", a_err);
    snprintf(args, sizeof args, "score --model=%s --max-length=16 --normalize", model);
    CHECK(run_cli(args, input, &b_out, &b_err) == 0, "%s", b_err);
    CHECK(count_lines(a_out) == 1 && !strcmp(a_out, b_out), "%s vs %s", a_out, b_out);
    free(a_out), free(a_err), free(b_out), free(b_err);
}

/* The old spellings of eval (--data, --cutoff-layer) still work and mean --eval-data and --cutoff-layers;
 * several cutoff layers rank by the highest one. */
TEST(cli_options_eval_old_spellings) {
    const char *model = rr_shared_path("testdata/minicpm-layerwise-tiny");
    char data[512], args[2048], *out[3], *err[3];
    snprintf(data, sizeof data, "%s", rr_shared_path("data/flagembedding/old_examples_reranker_toy_finetune_data.jsonl"));
    snprintf(args, sizeof args, "eval --model %s --data %s --cutoff-layer 4 --max-length 64", model, data);
    CHECK(run_cli(args, NULL, &out[0], &err[0]) == 0, "%s", err[0]);
    snprintf(args, sizeof args, "eval --model=%s --eval-data=%s --cutoff-layers=2,4 --max-length=64", model, data);
    CHECK(run_cli(args, NULL, &out[1], &err[1]) == 0, "%s", err[1]);
    snprintf(args, sizeof args, "eval --model %s --eval-data %s --max-length 64", model, data);
    CHECK(run_cli(args, NULL, &out[2], &err[2]) == 0, "%s", err[2]);
    CHECK(strstr(out[0], "\"mrr@10\"") && !strcmp(out[0], out[1]) && !strcmp(out[0], out[2]), "%s%s%s", out[0], out[1],
          out[2]);
    for (int i = 0; i < 3; i++) free(out[i]), free(err[i]);
}

/* Each command's usage errors point to its own --help. */
TEST(cli_options_errors_name_their_command) {
    const char *cases[][2] = {
        {"eval --model m", "--eval-data FILE|DIR is required (see rerank eval --help)"},
        {"eval --model m --data d --cutoff-layer x", "--cutoff-layer expects layer numbers"},
        {"eval --model m --data d --normalize", "unknown option '--normalize' (see rerank eval --help)"},
        {"merge-lora --adapter a", "--output-dir DIR is required (see rerank merge-lora --help)"},
        {"merge-lora --adapter a --output-dir o --bogus", "unknown option '--bogus' (see rerank merge-lora --help)"},
        {"train --model m --train-data d --output-dir o --seed -1", "--seed expects an integer in [0, "},
        {"train --model m --train-data d --output-dir o --warmup-ratio=2", "--warmup-ratio expects a number in [0, 1], got '2' (see rerank train --help)"},
        {"train --model m --train-data d --output-dir o --no-dropout=1", "option --no-dropout takes no value"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *out, *err;
        int rc = run_cli(cases[i][0], "", &out, &err);
        CHECK(rc == 2 && strstr(err, cases[i][1]) && count_lines(err) == 1, "rerank %s: exit %d, stderr: %s",
              cases[i][0], rc, err);
        free(out), free(err);
    }
}
