/* cli_train.h - the `train` and `eval` commands of the CLI (cli_train.c). */
#ifndef RR_CLI_TRAIN_H
#define RR_CLI_TRAIN_H

#if defined(__GNUC__)
#define RR_CLI_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define RR_CLI_PRINTF(a, b)
#endif

extern const char *const rr_cli_train_usage, *const rr_cli_eval_usage;

/* argv holds the options after the command name; returns the exit status. */
int rr_cli_train(int argc, char **argv);
int rr_cli_eval(int argc, char **argv);

#endif
