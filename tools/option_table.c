/* option_table.c - the rows of the CLI's one option table and the description of each subcommand (see
 * options.h for how a command declares its options). The same option has the same spelling, kind and
 * meaning in every command that takes it; a second row with the same name exists only where a command needs
 * another range, default or help text. */
#include <limits.h>
#include <stddef.h>
#include <string.h>

#include "options.h"

#define ARG(field) offsetof(rr_cli_args, field)

/* Commands that score pairs through rerank.h with the usual model and scoring options. */
#define SCORING (RR_CMD_SCORE | RR_CMD_RANK | RR_CMD_TOKENIZE)

static const rr_opt_choice dtype_choices[] = {
    {"auto", RERANK_DTYPE_AUTO, false}, {"f32", RERANK_DTYPE_F32, false}, {"fp32", RERANK_DTYPE_F32, true},
    {"bf16", RERANK_DTYPE_BF16, false}, {"int8", RERANK_DTYPE_INT8, false}, {NULL, 0, false}};
static const rr_opt_choice stored_dtype_choices[] = {
    {"bf16", RERANK_DTYPE_BF16, false}, {"int8", RERANK_DTYPE_INT8, false}, {NULL, 0, false}};
static const rr_opt_choice long_doc_choices[] = {
    {"truncate", RERANK_LONG_DOC_TRUNCATE, false}, {"chunk", RERANK_LONG_DOC_CHUNK, false}, {NULL, 0, false}};

static const char llm_section[] = "LLM rerankers (bge-reranker-v2-gemma, bge-reranker-v2-minicpm-layerwise, Qwen3-Reranker)";

const rr_opt rr_cli_options[] = {
    /* ---- the model, input and output ---- */
    {.name = "model", .metavar = "DIR", .kind = RR_OPT_STRING, .offset = ARG(model), .cmds = SCORING | RR_CMD_CONVERT,
     .help = "Hugging Face model directory (config.json, *.safetensors, tokenizer)"},
    {.name = "input", .metavar = "FILE", .kind = RR_OPT_STRING, .offset = ARG(input), .cmds = SCORING,
     .help = "read input from FILE instead of standard input"},
    {.name = "query", .metavar = "TEXT", .kind = RR_OPT_STRING, .offset = ARG(query), .cmds = RR_CMD_RANK,
     .help = "the query the passages are ranked for"},
    {.name = "top-k", .metavar = "K", .kind = RR_OPT_LONG, .min = 0, .max = LONG_MAX, .offset = ARG(top_k),
     .cmds = RR_CMD_RANK, .help = "print the K best passages only (default: all)"},
    {.name = "out", .metavar = "DIR", .kind = RR_OPT_STRING, .offset = ARG(out), .cmds = RR_CMD_CONVERT,
     .help = "the new model directory: created, must not exist or be empty"},
    {.name = "dtype", .kind = RR_OPT_ENUM, .choices = stored_dtype_choices, .offset = ARG(convert_dtype),
     .cmds = RR_CMD_CONVERT, .help = "the precision the dense weights are stored in"},

    /* ---- loading and scoring (rerank_model_params, rerank_score_params) ---- */
    {.name = "dtype", .metavar = "T", .kind = RR_OPT_ENUM, .choices = dtype_choices, .offset = ARG(mp.dtype),
     .cmds = SCORING,
     .help = "compute precision: auto (default: fp32, or a converted model's), f32, bf16 or int8"},
    {.name = "max-length", .metavar = "N", .kind = RR_OPT_INT, .min = 1, .max = 1 << 20, .offset = ARG(sp.max_length),
     .cmds = SCORING,
     .help = "token budget of a pair, special tokens included (default 512, at most the model's limit)"},
    {.name = "query-max-length", .metavar = "N", .kind = RR_OPT_INT, .min = 1, .max = 1 << 20,
     .offset = ARG(sp.query_max_length), .cmds = SCORING, .help = "token budget of the query (default max-length*3/4)"},
    {.name = "batch-size", .metavar = "N", .kind = RR_OPT_INT, .min = 1, .max = 256, .offset = ARG(sp.batch_size),
     .cmds = SCORING, .help = "pairs per forward pass (default 32; never changes scores)"},
    {.name = "threads", .metavar = "N", .kind = RR_OPT_INT, .min = 0, .max = 1024, .offset = ARG(sp.n_threads),
     .cmds = SCORING, .help = "threads (default: all cores)"},
    {.name = "normalize", .kind = RR_OPT_FLAG, .offset = ARG(sp.normalize), .cmds = SCORING,
     .help = "sigmoid scores in [0,1] instead of raw logits"},
    {.name = "long-doc", .metavar = "MODE", .kind = RR_OPT_ENUM, .choices = long_doc_choices, .offset = ARG(sp.long_doc),
     .cmds = SCORING,
     .help = "truncate (default, as FlagEmbedding) or chunk: score overlapping windows of a long passage and keep "
             "the best (MaxP)"},
    {.name = "chunk-overlap", .metavar = "N", .kind = RR_OPT_INT, .min = 0, .max = 1 << 20,
     .offset = ARG(sp.chunk_overlap), .cmds = SCORING,
     .help = "tokens shared by consecutive windows with --long-doc chunk (default 32)"},
    {.name = "split-special-tokens", .kind = RR_OPT_FLAG, .offset = ARG(sp.split_special_tokens), .cmds = SCORING,
     .help = "treat special-token text in the input (\"<s>\", \"[SEP]\") as plain text; by default it is matched "
             "as that token, as FlagEmbedding does"},
    {.name = "prompt", .metavar = "TEXT", .kind = RR_OPT_STRING, .offset = ARG(sp.prompt), .cmds = SCORING,
     .section = llm_section, .help = "FlagLLMReranker prompt (default: the Yes/No prompt of FlagEmbedding)"},
    {.name = "instruction", .metavar = "TEXT", .kind = RR_OPT_STRING, .offset = ARG(sp.instruction), .cmds = SCORING,
     .section = llm_section, .help = "Qwen3-Reranker instruction (default: the model card's web-search one)"},
    {.name = "cutoff-layers", .metavar = "L[,L..]", .kind = RR_OPT_LAYERS, .offset = ARG(layers), .cmds = SCORING,
     .section = llm_section,
     .help = "layerwise model: layers to score (default: the last); with several, each output line has "
             "\"scores\" and \"layers\" in ascending layer order (rank orders by the highest layer)"},
    {.name = "recipe", .metavar = "R", .kind = RR_OPT_STRING, .offset = ARG(mp.recipe), .cmds = SCORING,
     .section = llm_section, .help = "flag-llm or qwen3 input layout for a decoder (default: by architecture)"},
    {.name = "no-prefix-reuse", .kind = RR_OPT_FLAG_OFF, .offset = ARG(sp.prefix_reuse), .cmds = SCORING,
     .section = llm_section,
     .help = "run every pair whole; by default the tokens all pairs of a query share (instruction, query) run "
             "once per query (same scores up to float rounding)"},
};
const size_t rr_cli_n_options = sizeof rr_cli_options / sizeof rr_cli_options[0];

static const char score_contract[] =
    "Scores are FlagEmbedding's compute_score(pairs, max_length, normalize): the raw relevance logit, or its\n"
    "sigmoid with --normalize. LLM rerankers: the \"Yes\" logit of the last token; Qwen3-Reranker: the log-odds\n"
    "of \"yes\" over \"no\", whose sigmoid (--normalize) is the model card's P(yes). Exit status: 0 success, 1\n"
    "runtime or input error (the message names the input line and field), 2 usage error.\n";

const rr_cli_command rr_cli_commands[] = {
    {.name = "score", .bit = RR_CMD_SCORE,
     .summary = "score query/passage pairs: JSONL {\"query\": ..., \"passage\": ...} in, one JSON object per input "
                "line out, in input order: {\"score\": <float>}",
     .synopsis = "--model DIR [options] < pairs.jsonl",
     .description = "Scores query/passage pairs: JSONL {\"query\": ..., \"passage\": ...} in (standard input or "
                    "--input), one JSON\nobject per input line out, in input order: {\"score\": <float>}.\n",
     .epilogue = score_contract, .required = "model"},
    {.name = "rank", .bit = RR_CMD_RANK,
     .summary = "rank passages for one query: JSONL {\"passage\": ...} or plain lines in, passages out sorted by "
                "score: {\"index\": <input index>, \"score\": <float>, \"passage\": ...}",
     .synopsis = "--model DIR --query TEXT [options] < passages",
     .description = "Ranks passages for one query: JSONL {\"passage\": ...} or plain lines in, passages out best "
                    "first:\n{\"index\": <input index>, \"score\": <float>, \"passage\": ...}.\n",
     .epilogue = score_contract, .required = "model,query"},
    {.name = "tokenize", .bit = RR_CMD_TOKENIZE,
     .summary = "show the exact model input of each pair: {\"input_ids\": [...], \"token_type_ids\": [...]}",
     .synopsis = "--model DIR [options] < pairs.jsonl",
     .description = "Prints the exact model input of each JSONL {\"query\", \"passage\"} pair:\n{\"input_ids\": "
                    "[...], \"token_type_ids\": [...]}.\n",
     .required = "model"},
    {.name = "serve", .bit = RR_CMD_SERVE,
     .summary = "run the HTTP server (Cohere/Jina/TEI rerank APIs); see rerank serve --help",
     .synopsis = "--model DIR [options]"},
    {.name = "train", .bit = RR_CMD_TRAIN,
     .summary = "fine-tune a reranker on JSONL query/pos/neg data; see rerank train --help",
     .synopsis = "--model DIR --train-data FILE|DIR --output-dir DIR [options]"},
    {.name = "eval", .bit = RR_CMD_EVAL,
     .summary = "MRR@10, nDCG@10 and MAP of a model on JSONL query/pos/neg data; see rerank eval --help",
     .synopsis = "--model DIR --eval-data FILE|DIR [options]"},
    {.name = "merge-lora", .bit = RR_CMD_MERGE_LORA,
     .summary = "merge a LoRA adapter into its decoder base model; see rerank merge-lora --help",
     .synopsis = "--adapter DIR --output-dir DIR [--base DIR]"},
    {.name = "convert", .bit = RR_CMD_CONVERT,
     .summary = "save a model with its weights converted to bf16 or int8, so that loads need no conversion; see "
                "rerank convert --help",
     .synopsis = "--model DIR --dtype bf16|int8 --out DIR",
     .description =
         "Converts the dense weights of a model to bf16 or int8 once and saves them, packed as the kernels read "
         "them,\nin a new model directory: model.safetensors (every other tensor unchanged), config.json with a\n"
         "\"rerank_packed\" key, and the tokenizer and other files copied. rerank score/rank/serve --model on it "
         "map\nthe packed weights instead of converting at every start, with exactly the scores of --dtype on the\n"
         "original. It loads with --dtype auto (the default) or the same dtype; it is no longer a transformers\n"
         "checkpoint (keep the original for training). The CPU needs AVX512_BF16 (bf16) or AVX512_VNNI (int8), "
         "as\nfor --dtype.\n",
     .required = "model,dtype,out"},
};
const size_t rr_cli_n_commands = sizeof rr_cli_commands / sizeof rr_cli_commands[0];

void rr_cli_args_init(rr_cli_args *a) {
    memset(a, 0, sizeof *a);
    a->sp = rerank_score_default_params();
    a->mp = rerank_model_default_params();
    a->top_k = -1;
    a->convert_dtype = RERANK_DTYPE_AUTO;
}
