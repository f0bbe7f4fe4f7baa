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
/* ... and eval, which ranks training-format rows with the same scoring options (no --input, no --normalize:
 * the rows come from --eval-data, and the sigmoid never changes a ranking). */
#define RANKING (SCORING | RR_CMD_EVAL)
/* ... and serve, whose requests are scored with these defaults (its max length, batch size and threads
 * have rows of their own: another range or meaning). */
#define LOADED (RANKING | RR_CMD_SERVE)

static const rr_opt_choice dtype_choices[] = {
    {"auto", RERANK_DTYPE_AUTO, false}, {"f32", RERANK_DTYPE_F32, false}, {"fp32", RERANK_DTYPE_F32, true},
    {"bf16", RERANK_DTYPE_BF16, false}, {"int8", RERANK_DTYPE_INT8, false}, {NULL, 0, false}};
static const rr_opt_choice stored_dtype_choices[] = {
    {"bf16", RERANK_DTYPE_BF16, false}, {"int8", RERANK_DTYPE_INT8, false}, {NULL, 0, false}};
static const rr_opt_choice long_doc_choices[] = {
    {"truncate", RERANK_LONG_DOC_TRUNCATE, false}, {"chunk", RERANK_LONG_DOC_CHUNK, false}, {NULL, 0, false}};

static const char lora_section[] = "LoRA (decoder LLM rerankers; encoders are fully fine-tuned and ignore these)";
static const char llm_section[] = "LLM rerankers (bge-reranker-v2-gemma, bge-reranker-v2-minicpm-layerwise, Qwen3-Reranker)";

const rr_opt rr_cli_options[] = {
    /* ---- the model, input and output ---- */
    {.name = "model", .metavar = "DIR", .kind = RR_OPT_STRING, .offset = ARG(model),
     .cmds = LOADED | RR_CMD_CONVERT | RR_CMD_TRAIN,
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
     .cmds = LOADED,
     .help = "compute precision: auto (default: fp32, or a converted model's), f32, bf16 or int8"},
    {.name = "max-length", .metavar = "N", .kind = RR_OPT_INT, .min = 1, .max = 1 << 20, .offset = ARG(sp.max_length),
     .cmds = RANKING,
     .help = "token budget of a pair, special tokens included (default 512, at most the model's limit)"},
    {.name = "max-length", .metavar = "N", .kind = RR_OPT_INT, .min = 8, .max = 1 << 20, .offset = ARG(serve.max_length),
     .cmds = RR_CMD_SERVE, .help = "token budget of one pair, lowered to the model's limit (default 512)"},
    {.name = "batch-size", .metavar = "N", .kind = RR_OPT_INT, .min = 1, .max = 256, .offset = ARG(sp.batch_size),
     .cmds = RR_CMD_SERVE,
     .help = "the most pairs of one forward pass (default 256: the whole cross-request batch); never changes scores"},
    {.name = "query-max-length", .metavar = "N", .kind = RR_OPT_INT, .min = 1, .max = 1 << 20,
     .offset = ARG(sp.query_max_length), .cmds = LOADED, .help = "token budget of the query (default max-length*3/4)"},
    {.name = "batch-size", .metavar = "N", .kind = RR_OPT_INT, .min = 1, .max = 256, .offset = ARG(sp.batch_size),
     .cmds = RANKING, .help = "pairs per forward pass (default 32; never changes scores)"},
    {.name = "threads", .metavar = "N", .kind = RR_OPT_INT, .min = 0, .max = 1024, .offset = ARG(sp.n_threads),
     .cmds = RANKING, .help = "threads (default: all cores)"},
    {.name = "normalize", .kind = RR_OPT_FLAG, .offset = ARG(sp.normalize), .cmds = SCORING,
     .help = "sigmoid scores in [0,1] instead of raw logits"},
    {.name = "long-doc", .metavar = "MODE", .kind = RR_OPT_ENUM, .choices = long_doc_choices, .offset = ARG(sp.long_doc),
     .cmds = LOADED,
     .help = "truncate (default, as FlagEmbedding) or chunk: score overlapping windows of a long passage and keep "
             "the best (MaxP)"},
    {.name = "chunk-overlap", .metavar = "N", .kind = RR_OPT_INT, .min = 0, .max = 1 << 20,
     .offset = ARG(sp.chunk_overlap), .cmds = LOADED,
     .help = "tokens shared by consecutive windows with --long-doc chunk (default 32)"},
    {.name = "split-special-tokens", .kind = RR_OPT_FLAG, .offset = ARG(sp.split_special_tokens), .cmds = LOADED,
     .help = "treat special-token text in the input (\"<s>\", \"[SEP]\") as plain text; by default it is matched "
             "as that token, as FlagEmbedding does"},
    {.name = "prompt", .metavar = "TEXT", .kind = RR_OPT_STRING, .offset = ARG(sp.prompt), .cmds = LOADED,
     .section = llm_section, .help = "FlagLLMReranker prompt (default: the Yes/No prompt of FlagEmbedding)"},
    {.name = "instruction", .metavar = "TEXT", .kind = RR_OPT_STRING, .offset = ARG(sp.instruction), .cmds = LOADED,
     .section = llm_section, .help = "Qwen3-Reranker instruction (default: the model card's web-search one)"},
    {.name = "cutoff-layers", .aliases = "cutoff-layer", .metavar = "L[,L..]", .kind = RR_OPT_LAYERS, .offset = ARG(layers), .cmds = LOADED,
     .section = llm_section,
     .help = "layerwise model: layers to score (default: the last); with several, each output line has "
             "\"scores\" and \"layers\" in ascending layer order (rank orders by the highest layer)"},
    {.name = "recipe", .metavar = "R", .kind = RR_OPT_STRING, .offset = ARG(mp.recipe), .cmds = LOADED,
     .section = llm_section, .help = "flag-llm or qwen3 input layout for a decoder (default: by architecture)"},
    {.name = "no-prefix-reuse", .kind = RR_OPT_FLAG_OFF, .offset = ARG(sp.prefix_reuse), .cmds = LOADED,
     .section = llm_section,
     .help = "run every pair whole; by default the tokens all pairs of a query share (instruction, query) run "
             "once per query (same scores up to float rounding)"},
    /* ---- eval ---- */
    {.name = "eval-data", .aliases = "data", .metavar = "FILE|DIR", .kind = RR_OPT_STRING, .offset = ARG(eval_data),
     .cmds = RR_CMD_EVAL, .section = "Data",
     .help = "rows in the training data format (as --train-data of rerank train), a .json/.jsonl file or a "
             "directory of them"},

    /* ---- train ---- */
    {.name = "train-data", .metavar = "FILE|DIR", .kind = RR_OPT_STRING, .offset = ARG(train.train_data),
     .cmds = RR_CMD_TRAIN, .section = "Data",
     .help = "a .json/.jsonl file or a directory of them, one {\"query\", \"pos\", \"neg\"} object per line"},
    {.name = "train-group-size", .metavar = "N", .kind = RR_OPT_INT, .min = 2, .max = 1 << 16,
     .offset = ARG(train.group_size), .cmds = RR_CMD_TRAIN, .section = "Data",
     .help = "passages per query: 1 positive + N-1 sampled negatives (default 8)"},
    {.name = "query-max-len", .metavar = "N", .kind = RR_OPT_INT, .min = 1, .max = 1 << 20,
     .offset = ARG(train.query_max_len), .cmds = RR_CMD_TRAIN, .section = "Data",
     .help = "query token budget (default 32)"},
    {.name = "passage-max-len", .metavar = "N", .kind = RR_OPT_INT, .min = 1, .max = 1 << 20,
     .offset = ARG(train.passage_max_len), .cmds = RR_CMD_TRAIN, .section = "Data",
     .help = "passage token budget (default 128); a pair has at most both, specials included"},
    {.name = "knowledge-distillation", .kind = RR_OPT_FLAG, .offset = ARG(train.knowledge_distillation),
     .cmds = RR_CMD_TRAIN, .section = "Data",
     .help = "add the KD loss against softmax(teacher scores); rows must have the scores"},
    {.name = "skip-bad-lines", .kind = RR_OPT_FLAG, .offset = ARG(skip_bad_lines), .cmds = RR_CMD_TRAIN | RR_CMD_EVAL,
     .section = "Data", .help = "use the good rows and report how many lines were skipped"},
    {.name = "batch-size", .metavar = "N", .kind = RR_OPT_INT, .min = 1, .max = 1 << 16, .offset = ARG(train.batch_size),
     .cmds = RR_CMD_TRAIN, .section = "Optimization (AdamW on fp32 master weights, HF Trainer semantics)",
     .help = "groups per process per micro-batch (default 8)"},
    {.name = "grad-accum", .metavar = "N", .kind = RR_OPT_INT, .min = 1, .max = 1 << 16, .offset = ARG(train.grad_accum),
     .cmds = RR_CMD_TRAIN, .section = "Optimization (AdamW on fp32 master weights, HF Trainer semantics)",
     .help = "micro-batches per optimizer step (default 1); the global batch is batch-size x processes x "
             "grad-accum groups"},
    {.name = "learning-rate", .metavar = "X", .kind = RR_OPT_DOUBLE, .fmin = 0, .fmax = 1e3,
     .offset = ARG(train.learning_rate), .cmds = RR_CMD_TRAIN,
     .section = "Optimization (AdamW on fp32 master weights, HF Trainer semantics)",
     .help = "peak learning rate (default 6e-5)"},
    {.name = "epochs", .metavar = "N", .kind = RR_OPT_INT, .min = 1, .max = 1 << 20, .offset = ARG(train.epochs),
     .cmds = RR_CMD_TRAIN, .section = "Optimization (AdamW on fp32 master weights, HF Trainer semantics)",
     .help = "passes over the data (default 1; the last partial global batch is dropped)"},
    {.name = "max-steps", .metavar = "N", .kind = RR_OPT_LONG, .min = 1, .max = 1LL << 40, .offset = ARG(train.max_steps),
     .cmds = RR_CMD_TRAIN, .section = "Optimization (AdamW on fp32 master weights, HF Trainer semantics)",
     .help = "train exactly N optimizer steps instead (epochs repeat as needed)"},
    {.name = "warmup-ratio", .metavar = "X", .kind = RR_OPT_DOUBLE, .fmin = 0, .fmax = 1,
     .offset = ARG(train.warmup_ratio), .cmds = RR_CMD_TRAIN,
     .section = "Optimization (AdamW on fp32 master weights, HF Trainer semantics)",
     .help = "linear warm-up over ceil(X * steps) steps, then linear decay to 0 (default 0.1)"},
    {.name = "weight-decay", .metavar = "X", .kind = RR_OPT_DOUBLE, .fmin = 0, .fmax = 1e3,
     .offset = ARG(train.weight_decay), .cmds = RR_CMD_TRAIN,
     .section = "Optimization (AdamW on fp32 master weights, HF Trainer semantics)",
     .help = "decoupled weight decay, not on biases and LayerNorm (default 0.01)"},
    {.name = "max-grad-norm", .metavar = "X", .kind = RR_OPT_DOUBLE, .fmin = 0, .fmax = 1e30,
     .offset = ARG(train.max_grad_norm), .cmds = RR_CMD_TRAIN,
     .section = "Optimization (AdamW on fp32 master weights, HF Trainer semantics)",
     .help = "clip the global gradient norm (default 1.0; 0 = off)"},
    {.name = "seed", .metavar = "N", .kind = RR_OPT_U64, .min = 0, .max = 1LL << 62, .offset = ARG(train.seed),
     .cmds = RR_CMD_TRAIN, .section = "Optimization (AdamW on fp32 master weights, HF Trainer semantics)",
     .help = "data order, group sampling, dropout, LoRA init (default 42)"},
    {.name = "no-dropout", .kind = RR_OPT_FLAG_OFF, .offset = ARG(train.dropout), .cmds = RR_CMD_TRAIN,
     .section = "Optimization (AdamW on fp32 master weights, HF Trainer semantics)",
     .help = "train without dropout (default: the config's dropout, as transformers' train())"},
    {.name = "threads", .metavar = "N", .kind = RR_OPT_INT, .min = 0, .max = 1024, .offset = ARG(train.threads),
     .cmds = RR_CMD_TRAIN, .section = "Optimization (AdamW on fp32 master weights, HF Trainer semantics)",
     .help = "threads of the training step (default: all cores)"},
    {.name = "output-dir", .metavar = "DIR", .kind = RR_OPT_STRING, .offset = ARG(output_dir), .cmds = RR_CMD_TRAIN,
     .section = "Output",
     .help = "the trained model (config.json, model.safetensors, tokenizer files), loadable by rerank score and "
             "transformers; encoder weights are written as F32"},
    {.name = "save-steps", .metavar = "N", .kind = RR_OPT_LONG, .min = 0, .max = 1LL << 40, .offset = ARG(train.save_steps),
     .cmds = RR_CMD_TRAIN, .section = "Output",
     .help = "also write DIR/checkpoint-<step> every N steps (default 500; one at the end)"},
    {.name = "resume", .kind = RR_OPT_FLAG, .offset = ARG(train.resume), .cmds = RR_CMD_TRAIN, .section = "Output",
     .help = "continue from the latest DIR/checkpoint-N (same settings: the result is bit-identical to an "
             "uninterrupted run)"},
    {.name = "lora-rank", .metavar = "N", .kind = RR_OPT_INT, .min = 1, .max = 1 << 16, .offset = ARG(train.lora_rank),
     .cmds = RR_CMD_TRAIN, .section = lora_section, .help = "LoRA rank r (default 64)"},
    {.name = "lora-alpha", .metavar = "X", .kind = RR_OPT_DOUBLE, .fmin = 0, .fmax = 1e6, .offset = ARG(train.lora_alpha),
     .cmds = RR_CMD_TRAIN, .section = lora_section, .help = "scaling alpha / r (default 16)"},
    {.name = "lora-dropout", .metavar = "X", .kind = RR_OPT_DOUBLE, .fmin = 0, .fmax = 0.999,
     .offset = ARG(train.lora_dropout), .cmds = RR_CMD_TRAIN, .section = lora_section,
     .help = "dropout on the LoRA input (default 0.1)"},
    {.name = "lora-targets", .metavar = "a,b,...", .kind = RR_OPT_STRING, .offset = ARG(train.lora_targets),
     .cmds = RR_CMD_TRAIN, .section = lora_section,
     .help = "modules (default q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj)"},
    {.name = "lora-train-heads", .kind = RR_OPT_FLAG, .offset = ARG(train.lora_train_heads), .cmds = RR_CMD_TRAIN,
     .section = lora_section, .help = "layerwise model: train the per-layer heads too"},
    {.name = "merge", .kind = RR_OPT_FLAG, .offset = ARG(train.merge), .cmds = RR_CMD_TRAIN, .section = lora_section,
     .help = "also write DIR/merged_model with the adapters merged"},

    /* ---- merge-lora ---- */
    {.name = "adapter", .metavar = "DIR", .kind = RR_OPT_STRING, .offset = ARG(adapter), .cmds = RR_CMD_MERGE_LORA,
     .help = "the adapter directory (adapter_model.safetensors + adapter_config.json)"},
    {.name = "base", .metavar = "DIR", .kind = RR_OPT_STRING, .offset = ARG(base), .cmds = RR_CMD_MERGE_LORA,
     .help = "the base model (default: adapter_config.json's base_model_name_or_path)"},
    {.name = "output-dir", .metavar = "DIR", .kind = RR_OPT_STRING, .offset = ARG(output_dir),
     .cmds = RR_CMD_MERGE_LORA, .help = "where to write: DIR/merged_model"},
    /* ---- serve (its max length and batch size are with the scoring options above) ---- */
    {.name = "model-name", .metavar = "NAME", .kind = RR_OPT_STRING, .offset = ARG(serve.model_name),
     .cmds = RR_CMD_SERVE, .section = "Server",
     .help = "name reported by /v1/models and responses (default: DIR's base name)"},
    {.name = "host", .metavar = "ADDR", .kind = RR_OPT_STRING, .offset = ARG(serve.host), .cmds = RR_CMD_SERVE,
     .section = "Server", .help = "numeric address to bind (default 127.0.0.1)"},
    {.name = "port", .metavar = "N", .kind = RR_OPT_INT, .min = 0, .max = 65535, .offset = ARG(serve.port),
     .cmds = RR_CMD_SERVE, .section = "Server", .help = "port (default 8080; 0 = any free port, printed on start)"},
    {.name = "workers", .metavar = "N", .kind = RR_OPT_INT, .min = 1, .max = 256, .offset = ARG(serve.workers),
     .cmds = RR_CMD_SERVE, .section = "Server", .help = "scoring sessions sharing the model (default 2)"},
    {.name = "threads", .metavar = "N", .kind = RR_OPT_INT, .min = 1, .max = 1024, .offset = ARG(serve.threads),
     .cmds = RR_CMD_SERVE, .section = "Server", .help = "threads per worker (default: cores / workers)"},
    {.name = "http-threads", .metavar = "N", .kind = RR_OPT_INT, .min = 1, .max = 256, .offset = ARG(serve.http_threads),
     .cmds = RR_CMD_SERVE, .section = "Server", .help = "HTTP polling threads (default 4)"},
    {.name = "max-batch-tokens", .metavar = "N", .kind = RR_OPT_INT, .min = 1, .max = INT_MAX,
     .offset = ARG(serve.max_batch_tokens), .cmds = RR_CMD_SERVE, .section = "Server",
     .help = "token budget of one cross-request batch (default 16384)"},
    {.name = "max-body-bytes", .metavar = "N", .kind = RR_OPT_SIZE, .min = 64, .max = 1LL << 32,
     .offset = ARG(serve.max_body_bytes), .cmds = RR_CMD_SERVE, .section = "Server",
     .help = "413 above (default 8388608)"},
    {.name = "max-documents", .metavar = "N", .kind = RR_OPT_SIZE, .min = 1, .max = 1 << 20,
     .offset = ARG(serve.max_documents), .cmds = RR_CMD_SERVE, .section = "Server",
     .help = "413 above (default 1000; at most --max-queue-pairs)"},
    {.name = "max-doc-tokens", .metavar = "N", .kind = RR_OPT_SIZE, .min = 0, .max = 1 << 24,
     .offset = ARG(serve.max_doc_tokens), .cmds = RR_CMD_SERVE, .section = "Server",
     .help = "413 when a document has more tokens (default 0 = off; below the model's max_tokens)"},
    {.name = "max-queue-pairs", .metavar = "N", .kind = RR_OPT_SIZE, .min = 1, .max = 1 << 24,
     .offset = ARG(serve.max_queue_pairs), .cmds = RR_CMD_SERVE, .section = "Server",
     .help = "503 + Retry-After when the queue would exceed it (default 8192)"},
    {.name = "timeout-ms", .metavar = "N", .kind = RR_OPT_INT, .min = 0, .max = 3600000, .offset = ARG(serve.timeout_ms),
     .cmds = RR_CMD_SERVE, .section = "Server", .help = "per-request limit, 504 past it (default 30000)"},
    {.name = "max-connections", .metavar = "N", .kind = RR_OPT_INT, .min = 1, .max = 65536,
     .offset = ARG(serve.max_connections), .cmds = RR_CMD_SERVE, .section = "Server",
     .help = "concurrent connections (default 512)"},
    {.name = "idle-timeout", .metavar = "S", .kind = RR_OPT_INT, .min = 1, .max = 86400,
     .offset = ARG(serve.idle_timeout_s), .cmds = RR_CMD_SERVE, .section = "Server",
     .help = "close idle or stalled connections after S seconds (default 30)"},
    {.name = "api-key", .metavar = "KEY", .kind = RR_OPT_STRING, .offset = ARG(serve.api_key), .cmds = RR_CMD_SERVE,
     .section = "Server",
     .help = "require 'Authorization: Bearer KEY' on every route but /health (default: $RERANK_API_KEY)"},
};
const size_t rr_cli_n_options = sizeof rr_cli_options / sizeof rr_cli_options[0];

static const char score_contract[] =
    "Scores are FlagEmbedding's compute_score(pairs, max_length, normalize): the raw relevance logit, or its\n"
    "sigmoid with --normalize. LLM rerankers: the \"Yes\" logit of the last token; Qwen3-Reranker: the log-odds\n"
    "of \"yes\" over \"no\", whose sigmoid (--normalize) is the model card's P(yes). Exit status: 0 success, 1\n"
    "runtime or input error (the message names the input line and field), 2 usage error.\n";

static const char serve_description[] =
    "HTTP/1.1 reranking server (keep-alive) on one loaded model, with cross-request dynamic batching.\n"
    "\n"
    "Routes:\n"
    "  POST /v1/rerank, /v2/rerank  Cohere/Jina: {model, query, documents: [str | {text}], top_n,\n"
    "                               return_documents, max_tokens_per_doc} -> {id, results: [{index,\n"
    "                               relevance_score[, document: {text}]}], meta, usage}, best first\n"
    "  POST /rerank                 TEI: {query, texts, raw_scores, return_text, truncate,\n"
    "                               truncation_direction} -> [{index, score[, text]}], best first\n"
    "  GET  /health                 200 {\"status\":\"ok\"} once the model is loaded, else 503\n"
    "  GET  /metrics                Prometheus text format\n"
    "  GET  /v1/models              the served model\n"
    "  Every rerank route also takes: raw_scores (bool), long_doc (\"truncate\" | \"chunk\"),\n"
    "  instruction (string, Qwen3-Reranker), cutoff_layers (int or [int], layerwise model; the score is\n"
    "  the last listed layer's and results carry layer_scores). The options below set the defaults of\n"
    "  a request that does not say.\n"
    "\n"
    "Scores: every route returns 0..1 unless the request sets \"raw_scores\": true (Cohere and Jina\n"
    "  return a 0..1 relevance_score, TEI a sigmoid score), so serve has no --normalize. The mapping is\n"
    "  applied once, by librerank (rerank_score_params.normalize), never again by the server:\n"
    "  cross-encoders (XLM-R, BERT: bge-reranker-base/large/v2-m3, ms-marco MiniLM)\n"
    "                 raw = the classifier logit; 0..1 = sigmoid(logit)\n"
    "  LLM (bge-reranker-v2-gemma)\n"
    "                 raw = the \"Yes\" logit at the last token; 0..1 = sigmoid of it\n"
    "  layerwise (bge-reranker-v2-minicpm-layerwise)\n"
    "                 raw = each cutoff layer's head logit; 0..1 = sigmoid of it\n"
    "  Qwen3-Reranker raw = the library's raw score (log-odds of \"yes\" over \"no\"); 0..1 = P(yes)\n";

static const char serve_epilogue[] =
    "Errors are JSON {\"error\": {\"message\", \"type\", \"code\"[, \"limit\", \"limit_value\"]}}: 400 malformed\n"
    "or invalid input, 401 API key, 404/405 route or method, 413 a size limit, 422 input the model cannot\n"
    "take, 503 queue full or shutting down, 504 timeout. SIGTERM stops accepting, finishes in-flight\n"
    "requests and exits 0.\n";

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
     .synopsis = "--model DIR [options]", .description = serve_description, .epilogue = serve_epilogue,
     .required = "model"},
    {.name = "train", .bit = RR_CMD_TRAIN,
     .summary = "fine-tune a reranker on JSONL query/pos/neg data; see rerank train --help",
     .synopsis = "--model DIR --train-data FILE|DIR --output-dir DIR [options]",
     .description =
         "Fine-tunes a reranker as FlagEmbedding does (flagembedding-spec.md §3): encoder cross-encoders (XLM-R, "
         "BERT)\nfully, decoder LLM rerankers with LoRA adapters. Training data: a .json/.jsonl file, or a "
         "directory of them,\none JSON object per line (JSON Lines, .json files too): {\"query\": str, \"pos\": "
         "[str], \"neg\": [str]} plus\n\"prompt\" (LLM rerankers) and \"pos_scores\"/\"neg_scores\" (teacher scores "
         "for --knowledge-distillation).\nEvery bad line is reported (file:line: field) before training starts.\n",
     .epilogue =
         "Progress goes to stderr (loss, learning rate, gradient norm, tokens/s, ETA); at the end one JSON line on\n"
         "stdout: {\"steps\", \"first_loss\", \"last_loss\", \"seconds\", \"rows\", \"skipped\"}. Several processes "
         "train\ndata-parallel when started by mpirun; rank 0 writes the output.\n",
     .required = "model,train-data,output-dir"},
    {.name = "eval", .bit = RR_CMD_EVAL,
     .summary = "MRR@10, nDCG@10 and MAP of a model on JSONL query/pos/neg data; see rerank eval --help",
     .synopsis = "--model DIR --eval-data FILE|DIR [options]",
     .description =
         "Ranks the pos + neg passages of every row (training data format) with the model and prints one JSON "
         "line:\n{\"rows\": N, \"mrr@10\": ..., \"ndcg@10\": ..., \"map\": ...}, averages over rows with binary "
         "relevance\n(pos relevant). Equal scores rank negatives first (no credit for ties). A row's \"prompt\" "
         "replaces --prompt;\nwith several --cutoff-layers the highest layer ranks.\n",
     .required = "model,eval-data"},
    {.name = "merge-lora", .bit = RR_CMD_MERGE_LORA,
     .summary = "merge a LoRA adapter into its decoder base model; see rerank merge-lora --help",
     .synopsis = "--adapter DIR --output-dir DIR [--base DIR]",
     .description =
         "Merges a PEFT LoRA adapter (adapter_model.safetensors + adapter_config.json, from rerank train or PEFT) "
         "into\nits decoder base model: DIR/merged_model then holds the full model (W + alpha/r * B A, the "
         "checkpoint's\ndtypes, config and tokenizer files), which rerank score loads.\n",
     .required = "adapter,output-dir"},
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
         "checkpoint (keep the original for training). The files are the same whatever the CPU: a model\n"
         "converted on one machine loads on any other.\n",
     .required = "model,dtype,out"},
};
const size_t rr_cli_n_commands = sizeof rr_cli_commands / sizeof rr_cli_commands[0];

void rr_cli_args_init(rr_cli_args *a) {
    memset(a, 0, sizeof *a);
    a->sp = rerank_score_default_params();
    a->mp = rerank_model_default_params();
    a->top_k = -1;
    a->convert_dtype = RERANK_DTYPE_AUTO;
    a->train = rerank_train_default_params();
    rr_server_config_default(&a->serve);
}
