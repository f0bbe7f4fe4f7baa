/* options.c - the option layer of the CLI (see options.h): builds a getopt_long table for one subcommand
 * from the rows of rr_cli_options, stores and validates each value, checks the required options, and prints
 * `rerank <cmd> --help` and `rerank --help` from the same rows. */
#include "options.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

int rr_cli_usage_error(const char *cmd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("rerank: error: ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    if (cmd) fprintf(stderr, " (see rerank %s --help)\n", cmd);
    else fputs(" (see rerank --help)\n", stderr);
    return 2;
}

int rr_cli_runtime_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("rerank: error: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

const rr_cli_command *rr_cli_command_find(const char *name) {
    for (size_t i = 0; i < rr_cli_n_commands; i++)
        if (!strcmp(rr_cli_commands[i].name, name)) return &rr_cli_commands[i];
    return NULL;
}

const rerank_score_params *rr_cli_score_params(rr_cli_args *a) {
    if (a->layers.n) {
        a->sp.cutoff_layers = a->layers.v;
        a->sp.n_cutoff_layers = a->layers.n;
    }
    return &a->sp;
}

static bool takes_value(const rr_opt *o) { return o->kind != RR_OPT_FLAG && o->kind != RR_OPT_FLAG_OFF; }

/* "a, b or c" (bar false) or "a|b|c" (bar true): the listed choices of an enum, for errors and help. */
static void choices_text(const rr_opt *o, bool bar, char *buf, size_t size) {
    size_t n = 0, k = 0, len = 0;
    for (const rr_opt_choice *c = o->choices; c->name; c++) n += !c->hidden;
    buf[0] = 0;
    for (const rr_opt_choice *c = o->choices; c->name && len < size; c++) {
        if (c->hidden) continue;
        const char *sep = k == 0 ? "" : bar ? "|" : k + 1 == n ? " or " : ", ";
        len += (size_t)snprintf(buf + len, size - len, "%s%s", sep, c->name);
        k++;
    }
}

/* "28" or "8,16,28" -> ascending unique layers. */
static bool parse_layers(const char *v, rr_cli_layers *out) {
    size_t n = 0;
    int *l = out->v;
    for (const char *p = v; *p;) {
        char *end;
        errno = 0;
        long x = strtol(p, &end, 10);
        if (errno || end == p || x < 0 || x > 100000 || n == sizeof out->v / sizeof out->v[0] ||
            (*end && *end != ','))
            return false;
        l[n++] = (int)x;
        p = *end ? end + 1 : end;
    }
    if (n == 0) return false;
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && l[j - 1] > l[j]; j--) {
            int t = l[j];
            l[j] = l[j - 1];
            l[j - 1] = t;
        }
    size_t u = 0;
    for (size_t i = 0; i < n; i++)
        if (u == 0 || l[u - 1] != l[i]) l[u++] = l[i];
    out->n = u;
    return true;
}

/* Stores the value of option `o` (spelled `flag` by the user) into a; returns 0 or 2 after the error. */
static int store(const char *cmd, const rr_opt *o, const char *flag, const char *v, rr_cli_args *a) {
    char *dst = (char *)a + o->offset, *end;
    switch (o->kind) {
    case RR_OPT_FLAG: *(bool *)dst = true; return 0;
    case RR_OPT_FLAG_OFF: *(bool *)dst = false; return 0;
    case RR_OPT_STRING: *(const char **)dst = v; return 0;
    case RR_OPT_INT:
    case RR_OPT_LONG:
    case RR_OPT_SIZE:
    case RR_OPT_U64: {
        errno = 0;
        long long x = strtoll(v, &end, 10);
        if (errno || end == v || *end || x < o->min || x > o->max)
            return rr_cli_usage_error(cmd, "%s expects an integer in [%lld, %lld], got '%s'", flag, o->min, o->max, v);
        if (o->kind == RR_OPT_INT) *(int *)dst = (int)x;
        else if (o->kind == RR_OPT_LONG) *(long *)dst = (long)x;
        else if (o->kind == RR_OPT_SIZE) *(size_t *)dst = (size_t)x;
        else *(unsigned long long *)dst = (unsigned long long)x;
        return 0;
    }
    case RR_OPT_DOUBLE: {
        errno = 0;
        double x = strtod(v, &end);
        if (errno || end == v || *end || !(x >= o->fmin && x <= o->fmax))
            return rr_cli_usage_error(cmd, "%s expects a number in [%g, %g], got '%s'", flag, o->fmin, o->fmax, v);
        *(double *)dst = x;
        return 0;
    }
    case RR_OPT_ENUM:
        for (const rr_opt_choice *c = o->choices; c->name; c++)
            if (!strcmp(c->name, v)) {
                *(int *)dst = c->value;
                return 0;
            }
        char list[256];
        choices_text(o, false, list, sizeof list);
        return rr_cli_usage_error(cmd, "%s expects %s, got '%s'", flag, list, v);
    case RR_OPT_LIST: {
        rr_cli_list *l = (rr_cli_list *)dst;
        if (l->n == sizeof l->v / sizeof l->v[0])
            return rr_cli_usage_error(cmd, "%s is given more than %zu times", flag, sizeof l->v / sizeof l->v[0]);
        l->v[l->n++] = v;
        return 0;
    }
    case RR_OPT_LAYERS:
        if (!parse_layers(v, (rr_cli_layers *)dst))
            return rr_cli_usage_error(cmd, "%s expects layer numbers like 28 or 8,16,28, got '%s'", flag, v);
        return 0;
    }
    return 0;
}

/* The getopt_long table of one command: one entry per spelling (name and aliases) of each row it takes. */
typedef struct spelling_table {
    struct option *longs; /* getopt_long's table; .val = 256 + index into rows */
    const rr_opt **rows;  /* the row of each entry */
    size_t n;
    char shorts[128];     /* "+:h" then the one-letter forms */
} spelling_table;

static bool add_spelling(spelling_table *t, const rr_opt *o, const char *name) {
    struct option *l = realloc(t->longs, (t->n + 2) * sizeof *l);
    if (l) t->longs = l;
    const rr_opt **r = realloc(t->rows, (t->n + 1) * sizeof *r);
    if (r) t->rows = r;
    if (!l || !r) return false;
    t->longs[t->n] = (struct option){name, takes_value(o) ? required_argument : no_argument, NULL, 256 + (int)t->n};
    t->rows[t->n++] = o;
    t->longs[t->n] = (struct option){0, 0, 0, 0};
    return true;
}

/* Builds the table; alias names are copied out of the comma-separated list into `names` (freed by the caller). */
static bool build_table(const rr_cli_command *c, spelling_table *t, char **names) {
    memset(t, 0, sizeof *t);
    strcpy(t->shorts, "+:h");
    size_t alias_bytes = 0;
    for (size_t i = 0; i < rr_cli_n_options; i++)
        if ((rr_cli_options[i].cmds & c->bit) && rr_cli_options[i].aliases)
            alias_bytes += strlen(rr_cli_options[i].aliases) + 1;
    char *buf = *names = malloc(alias_bytes + 1), *p = buf;
    if (!buf) return false;
    static const rr_opt help = {.name = "help", .kind = RR_OPT_FLAG};
    if (!add_spelling(t, &help, "help")) return false;
    for (size_t i = 0; i < rr_cli_n_options; i++) {
        const rr_opt *o = &rr_cli_options[i];
        if (!(o->cmds & c->bit)) continue;
        if (!add_spelling(t, o, o->name)) return false;
        if (o->short_name) {
            size_t n = strlen(t->shorts);
            t->shorts[n++] = o->short_name;
            if (takes_value(o)) t->shorts[n++] = ':';
            t->shorts[n] = 0;
        }
        for (const char *s = o->aliases; s && *s;) {
            size_t len = strcspn(s, ",");
            memcpy(p, s, len);
            p[len] = 0;
            if (!add_spelling(t, o, p)) return false;
            p += len + 1;
            s += len + (s[len] == ',');
        }
    }
    return true;
}

static void free_table(spelling_table *t, char *names) {
    free(t->longs);
    free(t->rows);
    free(names);
}

/* Each required option of c given? */
static int check_required(const rr_cli_command *c, const bool *given, const spelling_table *t) {
    for (const char *s = c->required; s && *s;) {
        size_t len = strcspn(s, ",");
        bool found = false;
        const rr_opt *row = NULL;
        for (size_t i = 0; i < t->n; i++)
            if (!strncmp(t->rows[i]->name, s, len) && !t->rows[i]->name[len]) {
                row = t->rows[i];
                found |= given[i];
            }
        if (row && !found) {
            char mv[256] = "";
            if (row->metavar) snprintf(mv, sizeof mv, " %s", row->metavar);
            else if (row->kind == RR_OPT_ENUM) mv[0] = ' ', choices_text(row, true, mv + 1, sizeof mv - 1);
            return rr_cli_usage_error(c->name, "--%s%s is required", row->name, mv);
        }
        s += len + (s[len] == ',');
    }
    return 0;
}

int rr_cli_parse(const char *name, int argc, char **argv, rr_cli_args *a) {
    const rr_cli_command *c = rr_cli_command_find(name);
    if (!c) return rr_cli_usage_error(NULL, "unknown command '%s'", name);
    spelling_table t;
    char *names = NULL;
    bool *given = NULL;
    int rc = 0;
    if (!build_table(c, &t, &names) || !(given = calloc(t.n, sizeof *given))) {
        free_table(&t, names);
        return rr_cli_runtime_error("out of memory");
    }
    optind = 0; /* full re-initialisation: a process (the tests) may parse more than once */
    opterr = 0; /* our own one-line messages */
    for (;;) {
        int at = optind ? optind : 1, li = -1;
        int ch = getopt_long(argc, argv, t.shorts, t.longs, &li);
        if (ch == -1) break;
        const char *arg = at < argc ? argv[at] : "";
        if (ch == '?' || ch == ':') {
            /* name what the user typed: "--bogus" of "--bogus=1", or "-x" */
            char typed[128];
            if (optopt >= 256) snprintf(typed, sizeof typed, "--%s", t.longs[optopt - 256].name);
            else if (optopt) snprintf(typed, sizeof typed, "-%c", optopt);
            else snprintf(typed, sizeof typed, "%.*s", (int)strcspn(arg, "="), arg);
            if (ch == ':') rc = rr_cli_usage_error(c->name, "option %s needs a value", typed);
            else if (optopt >= 256) rc = rr_cli_usage_error(c->name, "option %s takes no value", typed);
            else rc = rr_cli_usage_error(c->name, "unknown option '%s'", typed);
            break;
        }
        size_t k;
        if (ch >= 256) {
            k = (size_t)(ch - 256);
            /* getopt_long takes unambiguous abbreviations (--mod); the table grows, so they would break later */
            size_t len = strncmp(arg, "--", 2) ? 0 : strcspn(arg + 2, "=");
            if (len != strlen(t.longs[k].name)) {
                bool other = false; /* the full name of another command's option: no suggestion */
                for (size_t i = 0; i < rr_cli_n_options; i++)
                    other |= strlen(rr_cli_options[i].name) == len && !strncmp(rr_cli_options[i].name, arg + 2, len);
                if (other) rc = rr_cli_usage_error(c->name, "unknown option '%.*s'", (int)len + 2, arg);
                else
                    rc = rr_cli_usage_error(c->name, "unknown option '%.*s' (did you mean --%s?)", (int)len + 2, arg,
                                            t.longs[k].name);
                break;
            }
        }
        if (ch == 'h' || ch == 256) { /* entry 0 is --help */
            rr_cli_print_help(c, stdout);
            rc = -1;
            break;
        }
        if (ch < 256) {
            for (k = 0; k < t.n && t.rows[k]->short_name != ch; k++) {}
            if (k == t.n) {
                rc = rr_cli_usage_error(c->name, "unknown option '-%c'", ch);
                break;
            }
        }
        char flag[128];
        if (ch >= 256) snprintf(flag, sizeof flag, "--%s", t.longs[k].name);
        else snprintf(flag, sizeof flag, "-%c", ch);
        given[k] = true;
        if ((rc = store(c->name, t.rows[k], flag, optarg, a))) break;
    }
    if (!rc && optind < argc) rc = rr_cli_usage_error(c->name, "unexpected argument '%s'", argv[optind]);
    if (!rc) rc = check_required(c, given, &t);
    free(given);
    free_table(&t, names);
    return rc;
}

/* ---- help ---- */

enum { HELP_INDENT = 26, HELP_WIDTH = 112 };

/* Writes text word-wrapped to HELP_WIDTH, continuation lines indented; `col` is the current column. */
static void wrap(FILE *f, const char *text, int col, int indent) {
    const char *p = text;
    while (*p) {
        size_t w = strcspn(p, " \n");
        if (col > indent && col + 1 + (int)w > HELP_WIDTH) {
            fprintf(f, "\n%*s", indent, "");
            col = indent;
        } else if (col > indent) {
            fputc(' ', f);
            col++;
        }
        fwrite(p, 1, w, f);
        col += (int)w;
        p += w;
        if (*p == '\n') { /* a forced break */
            fprintf(f, "\n%*s", indent, "");
            col = indent;
        }
        while (*p == ' ' || *p == '\n') p++;
    }
    fputc('\n', f);
}

static bool is_required(const rr_cli_command *c, const char *name) {
    size_t n = strlen(name);
    for (const char *s = c->required; s && *s;) {
        size_t len = strcspn(s, ",");
        if (len == n && !strncmp(s, name, n)) return true;
        s += len + (s[len] == ',');
    }
    return false;
}

static void print_option(FILE *f, const rr_cli_command *c, const rr_opt *o) {
    char left[128], text[2048];
    int n = o->short_name ? snprintf(left, sizeof left, "  -%c, --%s", o->short_name, o->name)
                          : snprintf(left, sizeof left, "  --%s", o->name);
    if (takes_value(o) && o->metavar) snprintf(left + n, sizeof left - (size_t)n, " %s", o->metavar);
    else if (o->kind == RR_OPT_ENUM) left[n] = ' ', choices_text(o, true, left + n + 1, sizeof left - (size_t)n - 1);
    size_t len = (size_t)snprintf(text, sizeof text, "%s", o->help ? o->help : "");
    if (o->kind == RR_OPT_LIST && len < sizeof text)
        len += (size_t)snprintf(text + len, sizeof text - len, "; may be repeated");
    if (is_required(c, o->name) && len < sizeof text) len += (size_t)snprintf(text + len, sizeof text - len, " [required]");
    if (o->aliases && len < sizeof text) {
        len += (size_t)snprintf(text + len, sizeof text - len, " (old spelling%s: ", strchr(o->aliases, ',') ? "s" : "");
        for (const char *s = o->aliases; *s && len < sizeof text;) {
            size_t w = strcspn(s, ",");
            len += (size_t)snprintf(text + len, sizeof text - len, "%s--%.*s", s == o->aliases ? "" : ", ", (int)w, s);
            s += w + (s[w] == ',');
        }
        if (len < sizeof text) snprintf(text + len, sizeof text - len, ", kept as an alias for this release)");
    }
    fputs(left, f);
    int col = (int)strlen(left);
    if (col >= HELP_INDENT - 1) {
        fprintf(f, "\n%*s", HELP_INDENT, "");
    } else {
        fprintf(f, "%*s", HELP_INDENT - col, "");
    }
    wrap(f, text, HELP_INDENT, HELP_INDENT);
}

/* The rows of command c, in table order under their section headings: "Options" first, then the others in
 * the order they first appear. */
static void print_options(FILE *f, const rr_cli_command *c, bool with_help) {
    const char *sections[32] = {"Options"};
    size_t n = 1;
    for (size_t i = 0; i < rr_cli_n_options; i++) {
        const rr_opt *o = &rr_cli_options[i];
        if (!(o->cmds & c->bit) || !o->section) continue;
        size_t k = 0;
        while (k < n && strcmp(sections[k], o->section)) k++;
        if (k == n && n < sizeof sections / sizeof sections[0]) sections[n++] = o->section;
    }
    for (size_t k = 0; k < n; k++) {
        fprintf(f, "\n%s:\n", sections[k]);
        if (k == 0 && with_help) fputs("  -h, --help              this text\n", f);
        for (size_t i = 0; i < rr_cli_n_options; i++) {
            const rr_opt *o = &rr_cli_options[i];
            if ((o->cmds & c->bit) && !strcmp(o->section ? o->section : "Options", sections[k])) print_option(f, c, o);
        }
    }
}

void rr_cli_print_help(const rr_cli_command *c, FILE *f) {
    fprintf(f, "usage: rerank %s %s\n", c->name, c->synopsis);
    if (c->description) fprintf(f, "\n%s", c->description);
    print_options(f, c, true);
    if (c->epilogue) fprintf(f, "\n%s", c->epilogue);
}

void rr_cli_print_overview(FILE *f) {
    fputs("usage: rerank <command> [options]\n       rerank <command> --help\n       rerank --version\n\n"
          "Every option takes its value as --opt value or --opt=value.\n\nCommands:\n", f);
    for (size_t i = 0; i < rr_cli_n_commands; i++) {
        const rr_cli_command *c = &rr_cli_commands[i];
        fprintf(f, "  %-11s", c->name);
        wrap(f, c->summary, 13, 13);
    }
    const rr_cli_command *score = rr_cli_command_find("score");
    if (score) {
        fputs("\nscore, rank and tokenize take these options (rerank <command> --help lists each command's):\n", f);
        print_options(f, score, false);
        if (score->epilogue) fprintf(f, "\n%s", score->epilogue);
    }
    bool heading = false;
    for (size_t i = 0; i < rr_cli_n_options; i++) {
        const rr_opt *o = &rr_cli_options[i];
        if (!o->aliases) continue;
        if (!heading) fputs("\nOld spellings, kept as aliases for this release:\n", f);
        heading = true;
        char cmds[256] = "";
        for (size_t k = 0; k < rr_cli_n_commands; k++)
            if (o->cmds & rr_cli_commands[k].bit)
                snprintf(cmds + strlen(cmds), sizeof cmds - strlen(cmds), "%s%s", cmds[0] ? "/" : "", rr_cli_commands[k].name);
        for (const char *s = o->aliases; *s;) {
            size_t w = strcspn(s, ",");
            fprintf(f, "  %s --%.*s = --%s\n", cmds, (int)w, s, o->name);
            s += w + (s[w] == ',');
        }
    }
}
