/* options.h - the one option table of the rerank CLI. Every subcommand's parsing (getopt_long), validation
 * (one-line usage errors naming the option and value, exit status 2) and `rerank <cmd> --help` text come from
 * the rows of rr_cli_options (option_table.c) and the command descriptions of rr_cli_commands.
 *
 * How a new subcommand declares its options (say `rerank foo`):
 *   1. options.h: add a bit RR_CMD_FOO below, and the fields its options fill to rr_cli_args (the values of
 *      every option of every command live in that one struct; give them defaults in rr_cli_args_init).
 *   2. option_table.c: add RR_CMD_FOO to the `cmds` of each existing row it takes (--model, --threads, ...: the
 *      same spelling and meaning everywhere), and append rows for its own options:
 *        {.name = "top-k", .metavar = "K", .kind = RR_OPT_LONG, .min = 0, .max = LONG_MAX,
 *         .offset = ARG(top_k), .cmds = RR_CMD_RANK, .help = "passages to print (default: all)"},
 *      A row may also carry .short_name ('m'), .aliases ("old-name,other": accepted, listed in --help as old
 *      spellings), .choices (RR_OPT_ENUM) and .section (a heading in --help). Two rows may share a name only
 *      for disjoint sets of commands (a different range, default or help text per command).
 *   3. option_table.c: append an rr_cli_command {name, bit, summary, synopsis, description, epilogue,
 *      required} to rr_cli_commands (its --help and its line in `rerank --help` come from it).
 *   4. Its run function (wired in rerank.c's dispatch table) starts with
 *        rr_cli_args a; int rc = rr_cli_parse("foo", argc, argv, &a); if (rc) return rc < 0 ? 0 : rc;
 *      where argv[0] is the command name. Usage errors found later: rr_cli_usage_error(cmd, fmt, ...).
 * --opt=value and --opt value both work for every option; unknown or abbreviated options, values out of range
 * and missing required options are usage errors. tests/test_cli_options.c checks the table itself. */
#ifndef RR_CLI_OPTIONS_H
#define RR_CLI_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "rerank.h"
#include "server/server.h"

#if defined(__GNUC__)
#define RR_CLI_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define RR_CLI_PRINTF(a, b)
#endif

/* The subcommands, as bits: each option row lists the subcommands that take it. */
enum {
    RR_CMD_SCORE = 1u << 0,
    RR_CMD_RANK = 1u << 1,
    RR_CMD_TOKENIZE = 1u << 2,
    RR_CMD_CONVERT = 1u << 3,
    RR_CMD_SERVE = 1u << 4,
    RR_CMD_TRAIN = 1u << 5,
    RR_CMD_EVAL = 1u << 6,
    RR_CMD_MERGE_LORA = 1u << 7,
};

typedef enum rr_opt_kind {
    RR_OPT_FLAG,     /* no value; stores true (bool) */
    RR_OPT_FLAG_OFF, /* no value; stores false (bool): the --no-... switches */
    RR_OPT_INT,      /* an integer in [min, max] into an int */
    RR_OPT_LONG,     /* ... into a long */
    RR_OPT_SIZE,     /* ... into a size_t */
    RR_OPT_U64,      /* ... into an unsigned long long */
    RR_OPT_DOUBLE,   /* a number in [fmin, fmax] into a double */
    RR_OPT_STRING,   /* const char * into argv */
    RR_OPT_ENUM,     /* one of .choices; stores its value into an int-sized enum */
    RR_OPT_LIST,     /* repeatable string: each use appends to an rr_cli_list */
    RR_OPT_LAYERS,   /* "28" or "8,16,28": ascending unique layer numbers into an rr_cli_layers */
} rr_opt_kind;

typedef struct rr_opt_choice {
    const char *name;
    int value;
    bool hidden; /* accepted but not listed (e.g. "fp32" for "f32") */
} rr_opt_choice;

typedef struct rr_opt {
    const char *name;             /* long name without the dashes */
    char short_name;              /* 0, or a one-letter form (-m) */
    const char *aliases;          /* old spellings kept for a release, comma-separated, or NULL */
    const char *metavar;          /* the value's placeholder in --help ("N", "DIR"); NULL for flags */
    rr_opt_kind kind;
    long long min, max;           /* integer kinds */
    double fmin, fmax;            /* RR_OPT_DOUBLE */
    const rr_opt_choice *choices; /* RR_OPT_ENUM: terminated by {NULL} */
    size_t offset;                /* where the value goes: offsetof(rr_cli_args, ...) */
    unsigned cmds;                /* RR_CMD_* bits of the subcommands that take it */
    const char *section;          /* heading it is listed under in --help; NULL = "Options" */
    const char *help;             /* one paragraph, wrapped by the help printer; defaults written out in it */
} rr_opt;

typedef struct rr_cli_command {
    const char *name;        /* "score" */
    unsigned bit;            /* RR_CMD_SCORE */
    const char *summary;     /* its line(s) in `rerank --help` */
    const char *synopsis;    /* what follows "usage: rerank <name> " */
    const char *description; /* the paragraph(s) before the options, or NULL */
    const char *epilogue;    /* text after the options, or NULL */
    const char *required;    /* comma-separated long names that must be given, or NULL */
} rr_cli_command;

typedef struct rr_cli_layers {
    int v[256];
    size_t n;
} rr_cli_layers;

typedef struct rr_cli_list {
    const char *v[64];
    size_t n;
} rr_cli_list;

/* The values of every option of every command; rr_cli_args_init fills the defaults. */
typedef struct rr_cli_args {
    const char *model;         /* --model */
    const char *input;         /* --input */
    const char *query;         /* rank --query */
    long top_k;                /* rank --top-k; -1 = all */
    const char *out;           /* convert --out */
    rerank_dtype convert_dtype; /* convert --dtype (bf16 or int8 only) */
    rerank_model_params mp;    /* --dtype, --recipe */
    rerank_score_params sp;    /* --max-length ... --no-prefix-reuse; cutoff layers: see rr_cli_score_params */
    rr_cli_layers layers;      /* --cutoff-layers */
    /* train, eval, merge-lora */
    rerank_train_params train; /* train's own options (--model and --output-dir are copied in) */
    const char *output_dir;    /* train, merge-lora --output-dir */
    bool skip_bad_lines;       /* train, eval --skip-bad-lines */
    const char *eval_data;     /* eval --eval-data */
    const char *adapter, *base; /* merge-lora --adapter, --base */
    /* serve: its own settings; the model and scoring options above are copied in (cli_serve.c) */
    rr_server_config serve;
} rr_cli_args;

extern const rr_opt rr_cli_options[];
extern const size_t rr_cli_n_options;
extern const rr_cli_command rr_cli_commands[];
extern const size_t rr_cli_n_commands;

void rr_cli_args_init(rr_cli_args *a);
const rr_cli_command *rr_cli_command_find(const char *name);

/* Parses the options of command `name` (argv[0] is the command name, argv[1..] its options) into *a, after
 * rr_cli_args_init. Returns 0; -1 after printing --help to stdout (the caller exits 0); or 2 after printing a
 * one-line usage error. Then checks the command's required options. */
int rr_cli_parse(const char *name, int argc, char **argv, rr_cli_args *a);

/* a->sp with the parsed cutoff layers attached (a->sp points into a afterwards: keep a alive). */
const rerank_score_params *rr_cli_score_params(rr_cli_args *a);

/* `rerank <cmd> --help`, and `rerank --help`. */
void rr_cli_print_help(const rr_cli_command *cmd, FILE *f);
void rr_cli_print_overview(FILE *f);

/* "rerank: error: <message> (see rerank <cmd> --help)" on stderr; returns 2. cmd may be NULL (rerank --help). */
int rr_cli_usage_error(const char *cmd, const char *fmt, ...) RR_CLI_PRINTF(2, 3);
/* "rerank: error: <message>" on stderr; returns 1. */
int rr_cli_runtime_error(const char *fmt, ...) RR_CLI_PRINTF(1, 2);

#endif
