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
#define RANKING (SCORING | RR_CMD_EVAL | RR_CMD_TREC)
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
     .cmds = (LOADED & ~RR_CMD_SERVE) | RR_CMD_CONVERT | RR_CMD_TRAIN | RR_CMD_DOWNLOAD,
     .help = "Hugging Face model directory (config.json, *.safetensors, tokenizer), or a hub id ORG/NAME[@REVISION] "
             "fetched into the hub cache (an existing local path always wins; see rerank download --help)"},
    {.name = "model", .metavar = "[NAME=]DIR", .kind = RR_OPT_LIST, .offset = ARG(serve_models), .cmds = RR_CMD_SERVE,
     .help = "Hugging Face model directory (config.json, *.safetensors, tokenizer) or hub id ORG/NAME[@REVISION]; "
             "NAME=DIR names it, and repeating the option serves several models in one process (a request's "
             "\"model\" picks one; the first is the default)"},
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
    {.name = "normalize", .kind = RR_OPT_FLAG, .offset = ARG(sp.normalize), .cmds = SCORING | RR_CMD_TREC,
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


    /* ---- eval --qrels --run: trec_eval's measures (cli_eval.c) ---- */
    {.name = "qrels", .metavar = "FILE", .kind = RR_OPT_STRING, .offset = ARG(qrels), .cmds = RR_CMD_EVAL,
     .section = "TREC runs (eval --qrels --run)",
     .help = "relevance judgements `qid iter docid rel` (graded); a FILE ending in .tsv is BEIR's `query-id corpus-id "
             "score` after a header line"},
    {.name = "run", .metavar = "FILE", .kind = RR_OPT_STRING, .offset = ARG(run), .cmds = RR_CMD_EVAL,
     .section = "TREC runs (eval --qrels --run)",
     .help = "a TREC run `qid Q0 docid rank score tag`: each query's docs ranked by score (a double), ties by docid "
             "in descending byte order, as trec_eval; the rank column and the line order are ignored"},
    {.name = "measure", .short_name = 'm', .metavar = "MEASURE", .kind = RR_OPT_LIST, .offset = ARG(measures),
     .cmds = RR_CMD_EVAL, .section = "TREC runs (eval --qrels --run)",
     .help = "trec_eval names with optional cutoffs: map, recip_rank, P[.k,..], recall[.k,..], ndcg, "
             "ndcg_cut[.k,..], map_cut[.k,..] (without cutoffs 5,10,15,20,30,100,200,500,1000); or ir_measures "
             "names: nDCG@k, nDCG, RR@k (recip_rank within the top k), RR, AP, AP@k, P@k, R@k. Default: map, "
             "recip_rank, P.5,10, recall.100, ndcg_cut.10. Printed in trec_eval's order; as in trec_eval a second "
             "-m of a trec_eval measure is ignored (give P.5,10, not -m P.5 -m P.10)"},
    {.name = "per-query", .short_name = 'q', .kind = RR_OPT_FLAG, .offset = ARG(per_query), .cmds = RR_CMD_EVAL,
     .section = "TREC runs (eval --qrels --run)", .help = "also print every query's values, before the averages"},
    {.name = "complete", .short_name = 'c', .kind = RR_OPT_FLAG, .offset = ARG(complete), .cmds = RR_CMD_EVAL,
     .section = "TREC runs (eval --qrels --run)",
     .help = "average over every qrels query: one absent from the run counts 0 (with -q it prints 0s); without -c "
             "it is skipped (trec_eval 9.0.8 and pytrec_eval; 10.0 stops)"},
    {.name = "relevance-level", .short_name = 'l', .metavar = "N", .kind = RR_OPT_LONG, .min = LONG_MIN,
     .max = LONG_MAX, .offset = ARG(relevance_level), .cmds = RR_CMD_EVAL, .section = "TREC runs (eval --qrels --run)",
     .help = "rel >= N is relevant (default 1); ndcg gains stay the qrels values"},
    {.name = "max-docs", .short_name = 'M', .metavar = "N", .kind = RR_OPT_LONG, .min = 1, .max = LONG_MAX,
     .offset = ARG(max_docs), .cmds = RR_CMD_EVAL, .section = "TREC runs (eval --qrels --run)",
     .help = "evaluate only the first N ranked docs of each query"},
    {.name = "json", .kind = RR_OPT_FLAG, .offset = ARG(json), .cmds = RR_CMD_EVAL,
     .section = "TREC runs (eval --qrels --run)",
     .help = "one JSON object {\"queries\": n, \"all\": {name: value}, \"per_query\": {qid: {name: value}}} instead "
             "of trec_eval's `name<TAB>qid|all<TAB>value` lines"},

    /* ---- trec: rerank a TREC run (cli_trec.c); merge (cli_merge.c); sharding (cli_shard.h) ---- */
    {.name = "run", .metavar = "FILE", .kind = RR_OPT_STRING, .offset = ARG(run), .cmds = RR_CMD_TREC,
     .help = "the first-stage run `qid Q0 docid rank score tag` (each query's candidates ranked by score as "
             "trec_eval ranks them)"},
    {.name = "queries", .metavar = "FILE", .kind = RR_OPT_STRING, .offset = ARG(queries), .cmds = RR_CMD_TREC,
     .help = "BEIR queries.jsonl {\"_id\", \"text\"} or TSV qid<TAB>text"},
    {.name = "corpus", .metavar = "FILE", .kind = RR_OPT_STRING, .offset = ARG(corpus), .cmds = RR_CMD_TREC,
     .help = "BEIR corpus.jsonl {\"_id\", \"title\", \"text\"} (passage = title + \" \" + text, or text when the "
             "title is empty) or MS MARCO collection.tsv pid<TAB>text; memory-mapped, not loaded"},
    {.name = "beir", .metavar = "DIR", .kind = RR_OPT_STRING, .offset = ARG(beir), .cmds = RR_CMD_TREC,
     .help = "a BEIR folder: DIR/corpus.jsonl, DIR/queries.jsonl, and DIR/qrels/test.tsv to evaluate"},
    {.name = "qrels", .metavar = "FILE", .kind = RR_OPT_STRING, .offset = ARG(qrels), .cmds = RR_CMD_TREC,
     .help = "evaluate the first-stage and reranked runs at the end (stderr): TREC qrels, or BEIR qrels when FILE "
             "ends in .tsv"},
    {.name = "top-k", .metavar = "N", .kind = RR_OPT_LONG, .min = 1, .max = 1L << 30, .offset = ARG(trec_top_k),
     .cmds = RR_CMD_TREC, .help = "candidates reranked per query (default 100)"},
    {.name = "output", .metavar = "FILE", .kind = RR_OPT_STRING, .offset = ARG(output), .cmds = RR_CMD_TREC,
     .help = "write the run to FILE instead of standard output; \"{shard}\" in FILE is replaced by the shard index"},
    {.name = "output", .metavar = "FILE", .kind = RR_OPT_STRING, .offset = ARG(output), .cmds = RR_CMD_MERGE,
     .help = "write to FILE instead of standard output"},
    {.name = "resume", .kind = RR_OPT_FLAG, .offset = ARG(resume), .cmds = RR_CMD_TREC,
     .help = "keep the queries already complete in --output and append the rest (a query cut short by a crash is "
             "redone)"},
    {.name = "shard", .metavar = "K/N", .kind = RR_OPT_STRING, .offset = ARG(shard), .cmds = RR_CMD_TREC,
     .section = "Sharding",
     .help = "do queries K, K+N, K+2N, ... of the run (in qid order); by default taken from "
             "SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT (Slurm job arrays), JOB_COMPLETION_INDEX with --shard-count N "
             "(Kubernetes Indexed Jobs), or OMPI_COMM_WORLD_RANK/SIZE (mpirun). `rerank merge` joins the shards' "
             "outputs into the unsharded run, byte for byte"},
    {.name = "shard", .metavar = "K/N", .kind = RR_OPT_STRING, .offset = ARG(shard), .cmds = RR_CMD_SCORE,
     .section = "Sharding",
     .help = "score input lines K, K+N, K+2N, ... only (blank lines not counted); by default taken from "
             "SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT, JOB_COMPLETION_INDEX with --shard-count N, or "
             "OMPI_COMM_WORLD_RANK/SIZE. `rerank merge --lines` interleaves the shards' outputs into input order"},
    {.name = "shard-count", .metavar = "N", .kind = RR_OPT_LONG, .min = 1, .max = 1L << 30, .offset = ARG(shard_count),
     .cmds = RR_CMD_TREC | RR_CMD_SCORE, .section = "Sharding",
     .help = "the number of shards of a Kubernetes Indexed Job (its completions; the index is JOB_COMPLETION_INDEX)"},
    {.name = "quiet", .kind = RR_OPT_FLAG, .offset = ARG(quiet), .cmds = RR_CMD_TREC, .help = "no progress line"},
    {.name = "lines", .kind = RR_OPT_FLAG, .offset = ARG(lines), .cmds = RR_CMD_MERGE,
     .help = "join `rerank score --shard K/N` outputs given in shard order: output line i is line i/N of shard i%N"},

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
    {.name = "eval-data", .metavar = "FILE|DIR", .kind = RR_OPT_STRING, .offset = ARG(train.eval_data),
     .cmds = RR_CMD_TRAIN, .section = "Held-out evaluation",
     .help = "rows in the training format: nDCG@10, MRR@10 and MAP of their pos + neg ranking (as rerank eval) before "
             "training, every --eval-steps and at the end, on stderr and in the summary's \"eval\"; a loud WARNING "
             "when a query's scores collapse to one value (each evaluation saves and loads the model)"},
    {.name = "eval-steps", .metavar = "N", .kind = RR_OPT_LONG, .min = 0, .max = 1LL << 40, .offset = ARG(train.eval_steps),
     .cmds = RR_CMD_TRAIN, .section = "Held-out evaluation",
     .help = "also evaluate every N steps (default 0: before training and at the end only)"},
    {.name = "resume", .kind = RR_OPT_FLAG, .offset = ARG(train.resume), .cmds = RR_CMD_TRAIN, .section = "Output",
     .help = "continue from the latest DIR/checkpoint-N (same settings: the result is bit-identical to an "
             "uninterrupted run)"},
    {.name = "lora-rank", .metavar = "N", .kind = RR_OPT_INT, .min = 1, .max = 1 << 16, .offset = ARG(train.lora_rank),
     .cmds = RR_CMD_TRAIN, .section = lora_section, .help = "LoRA rank r (default 64, or --lora-init's)"},
    {.name = "lora-alpha", .metavar = "X", .kind = RR_OPT_DOUBLE, .fmin = 0, .fmax = 1e6, .offset = ARG(train.lora_alpha),
     .cmds = RR_CMD_TRAIN, .section = lora_section, .help = "scaling alpha / r (default 16, or --lora-init's)"},
    {.name = "lora-dropout", .metavar = "X", .kind = RR_OPT_DOUBLE, .fmin = 0, .fmax = 0.999,
     .offset = ARG(train.lora_dropout), .cmds = RR_CMD_TRAIN, .section = lora_section,
     .help = "dropout on the LoRA input (default 0.1)"},
    {.name = "lora-targets", .metavar = "a,b,...", .kind = RR_OPT_STRING, .offset = ARG(train.lora_targets),
     .cmds = RR_CMD_TRAIN, .section = lora_section,
     .help = "modules (default q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj, or --lora-init's)"},
    {.name = "lora-train-heads", .kind = RR_OPT_FLAG, .offset = ARG(train.lora_train_heads), .cmds = RR_CMD_TRAIN,
     .section = lora_section, .help = "layerwise model: train the per-layer heads too"},
    {.name = "merge", .kind = RR_OPT_FLAG, .offset = ARG(train.merge), .cmds = RR_CMD_TRAIN, .section = lora_section,
     .help = "also write DIR/merged_model with the adapters merged"},

    /* ---- LoRA adapters: applied at load (score, rank, eval, trec, serve) or the start of training ---- */
    {.name = "adapter", .metavar = "DIR", .kind = RR_OPT_STRING, .offset = ARG(mp.adapter),
     .cmds = RR_CMD_SCORE | RR_CMD_RANK | RR_CMD_EVAL | RR_CMD_TREC | RR_CMD_SERVE, .section = llm_section,
     .help = "apply a PEFT LoRA adapter (adapter_config.json + adapter_model.safetensors, from rerank train or "
             "PEFT; FlagLLMReranker's peft_path) at load, without writing a merged copy: scores equal those of the "
             "model rerank merge-lora writes. Each adapted matrix is merged in fp32 (W + lora_alpha/r * B A) "
             "before --dtype bf16/int8 converts it; not with a model from rerank convert"},
    {.name = "lora-init", .metavar = "DIR", .kind = RR_OPT_STRING, .offset = ARG(train.lora_init),
     .cmds = RR_CMD_TRAIN, .section = lora_section,
     .help = "start from this PEFT LoRA adapter (its lora_A/B and saved layerwise heads) instead of a fresh one; "
             "rank, alpha and targets come from its adapter_config.json (a different --lora-rank, --lora-alpha or "
             "--lora-targets is an error)"},
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
     .help = "the (first) model's name in /v1/models and responses (default: DIR's base name); once models are "
             "named, a request naming another model gets a 404"},
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
     .help = "require 'Authorization: Bearer KEY' on every route but /health and /ready (default: $RERANK_API_KEY)"},
    {.name = "auto-truncate", .kind = RR_OPT_FLAG, .offset = ARG(serve.auto_truncate), .cmds = RR_CMD_SERVE,
     .section = "Server",
     .help = "TEI route: truncate an input over the limit when the request omits truncate (default: off, a 413, "
             "as in TEI)"},
    {.name = "cors-allow-origin", .metavar = "ORIGIN", .kind = RR_OPT_STRING, .offset = ARG(serve.cors_origins),
     .cmds = RR_CMD_SERVE, .section = "Server",
     .help = "answer browser pages from ORIGIN (\"*\" = any; or a comma-separated list): OPTIONS preflights and "
             "Access-Control-Allow-Origin (default: off)"},
    {.name = "drain-delay", .metavar = "S", .kind = RR_OPT_INT, .min = 0, .max = 3600,
     .offset = ARG(serve.drain_delay_s), .cmds = RR_CMD_SERVE, .section = "Server",
     .help = "after SIGTERM, keep serving S seconds with /ready at 503 before draining, so a load balancer "
             "stops sending first (default 0; in Kubernetes, or a preStop sleep)"},
};
const size_t rr_cli_n_options = sizeof rr_cli_options / sizeof rr_cli_options[0];

static const char score_contract[] =
    "Scores are FlagEmbedding's compute_score(pairs, max_length, normalize): the raw relevance logit, or its\n"
    "sigmoid with --normalize. LLM rerankers: the \"Yes\" logit of the last token; Qwen3-Reranker: the log-odds\n"
    "of \"yes\" over \"no\", whose sigmoid (--normalize) is the model card's P(yes). Exit status: 0 success, 1\n"
    "runtime or input error (the message names the input line and field), 2 usage error.\n";

static const char serve_description[] =
    "HTTP/1.1 reranking server (keep-alive) on one or more loaded models, with cross-request dynamic batching.\n"
    "\n"
    "Routes:\n"
    "  POST /v1/rerank, /v2/rerank  Cohere/Jina: {model, query, documents: [str | object], rank_fields,\n"
    "                               top_n, return_documents, max_tokens_per_doc} -> {id, model, results:\n"
    "                               [{index, relevance_score[, document]}], meta, usage}, best first.\n"
    "                               return_documents defaults to true on /v1 (Jina, Cohere v1) and false\n"
    "                               on /v2 (Cohere v2); an object document is echoed with all its fields.\n"
    "                               rank_fields: the object fields ranked (default [\"text\"]); several are\n"
    "                               joined as \"name: value\" lines in the order given\n"
    "  POST /rerank                 TEI: {query, texts, raw_scores, return_text, truncate,\n"
    "                               truncation_direction: Right | Left} -> [{index, score[, text]}], best\n"
    "                               first; errors {\"error\", \"error_type\"}; a missing truncate means\n"
    "                               --auto-truncate (off: an input over the limit is a 413, as in TEI)\n"
    "  GET  /health                 liveness: 200 while the process serves, {\"status\": \"loading\" | \"ok\" |\n"
    "                               \"draining\"}\n"
    "  GET  /ready                  readiness: 200 once every model is loaded, 503 while loading and\n"
    "                               after SIGTERM (route load balancers and Kubernetes readiness here)\n"
    "  GET  /info                   TEI's model info (model_id, max_input_length, max_batch_tokens, ...)\n"
    "  GET  /metrics                Prometheus text format\n"
    "  GET  /v1/models[/{id}]       the served models\n"
    "  The request's \"model\" picks the served model. A server given names (--model-name, NAME=DIR) answers\n"
    "  404 naming the served ones for any other name; one unnamed model accepts any name (and echoes it).\n"
    "  On a one-model server /rerank (TEI) ignores the name, as TEI does.\n"
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
    "or invalid input, 401 API key, 404 route or model, 405 method, 413 a size limit (an oversized body\n"
    "is read and dropped, up to 64 MiB, so that the client receives the 413), 415 a body that is not JSON\n"
    "(Content-Encoding, or a Content-Type other than application/json; none, and curl's default\n"
    "x-www-form-urlencoded, are read as JSON), 422 input the model cannot take, 503 queue full or\n"
    "shutting down, 504 timeout. Bodies may start with a UTF-8 BOM; \\u0000 in texts reads as a space;\n"
    "integer fields accept integral numbers such as 3.0. SIGTERM stops accepting, finishes in-flight\n"
    "requests and exits 0 (see --drain-delay).\n";

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
     .synopsis = "--model [NAME=]DIR [--model NAME=DIR ...] [options]", .description = serve_description,
     .epilogue = serve_epilogue,
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
     .summary = "MRR@10, nDCG@10 and MAP of a model on JSONL query/pos/neg data, or with --qrels --run trec_eval's "
                "measures of a TREC run (the same digits); see rerank eval --help",
     .synopsis = "--model DIR --eval-data FILE|DIR [options]\n       rerank eval --qrels QRELS --run RUN [-m MEASURE]... "
                 "[-q] [-c] [-l N] [-M N] [--json]",
     .description =
         "Ranks the pos + neg passages of every row (training data format) with the model and prints one JSON "
         "line:\n{\"rows\": N, \"mrr@10\": ..., \"ndcg@10\": ..., \"map\": ...}, averages over rows with binary "
         "relevance\n(pos relevant). Equal scores rank negatives first (no credit for ties). A row's \"prompt\" "
         "replaces --prompt;\nwith several --cutoff-layers the highest layer ranks. A WARNING goes to stderr when "
         "a row's passages\nall score the same (a collapsed model).\n\n"
         "With --qrels and --run it evaluates a TREC run instead, computing and printing what NIST trec_eval 10.0 "
         "does:\nthe same ranking and tie-breaks, measures and -m syntax, -q, -c, -l, -M, and its output\n"
         "`name<pad 22>\\tqid|all\\tvalue` with 4 decimals. A docid listed twice for an evaluated query is an "
         "error, as in\ntrec_eval.\n",
     .required = NULL /* --model and --eval-data, or --qrels and --run: checked by rr_cli_eval */},
    {.name = "trec", .bit = RR_CMD_TREC,
     .summary = "rerank a first-stage TREC run (BEIR or MS MARCO files), by shard on Slurm, Kubernetes or MPI; see "
                "rerank trec --help",
     .synopsis = "--model DIR --run RUN (--queries Q --corpus C | --beir DIR) [options] > reranked.run",
     .description =
         "Reranks each query's top-k candidates of a first-stage TREC run and writes a TREC run\n"
         "`qid Q0 docid rank score rerank`: queries in qid byte order, each query's docs by score (ties by docid,\n"
         "descending, as trec_eval breaks them), ranks 1..k, scores with 9 significant digits. One query at a time:\n"
         "memory holds one query's candidates, the corpus stays memory-mapped. Run queries only; each needs a text\n"
         "and every candidate a passage. A progress line goes to stderr, and with qrels the first-stage and\n"
         "reranked nDCG@10, RR@10, AP and recall at the end.\n",
     .required = "model,run"},
    {.name = "merge", .bit = RR_CMD_MERGE,
     .summary = "join the outputs of sharded `rerank trec` / `rerank score` runs; see rerank merge --help",
     .synopsis = "[--output FILE] SHARD_OUTPUT...\n       rerank merge --lines [--output FILE] SHARD_0 ... SHARD_N-1",
     .description =
         "Joins the outputs of `rerank trec --shard K/N` (K = 0..N-1, any order) into the run one unsharded\n"
         "process writes, byte for byte: every query's lines, queries in qid byte order (as `LC_ALL=C sort -s "
         "-k1,1`\nof the concatenation). A query in two outputs is refused. With --lines, joins `rerank score "
         "--shard K/N`\noutputs given in shard order.\n"},
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
    {.name = "download", .bit = RR_CMD_DOWNLOAD,
     .summary = "fetch ORG/NAME[@REVISION] from the Hugging Face Hub into its cache and print the snapshot "
                "directory; see rerank download --help",
     .synopsis = "ORG/NAME[@REVISION]",
     .description =
         "Fetches the files a reranker needs (config.json, tokenizer files, *.safetensors and the shard index, PEFT\n"
         "adapter files; never *.bin, *.gguf or onnx/) from the Hugging Face Hub into the cache huggingface_hub "
         "uses,\nand prints the snapshot directory on stdout. REVISION is a branch, tag, refs/pr/N or a 40-hex "
         "commit\n(default main). Every command's --model takes ORG/NAME[@REVISION] the same way (an existing local "
         "path\nalways wins). Files already in the cache cost no download; LFS files are checked against their "
         "sha256.\nA progress line (bytes, rate, ETA) goes to stderr when it is a terminal.\n",
     .epilogue =
         "Environment (as huggingface_hub reads it):\n"
         "  HF_ENDPOINT       the hub (default https://huggingface.co; an http:// mirror works)\n"
         "  HF_HUB_CACHE      the cache (default $HF_HOME/hub; HF_HOME defaults to $XDG_CACHE_HOME/huggingface,\n"
         "                    then ~/.cache/huggingface)\n"
         "  HF_TOKEN          token for private and gated repositories (else the file $HF_TOKEN_PATH, default\n"
         "                    $HF_HOME/token); sent to HF_ENDPOINT's host only\n"
         "  HF_HUB_OFFLINE=1  no network: the cache only\n"},
};
const size_t rr_cli_n_commands = sizeof rr_cli_commands / sizeof rr_cli_commands[0];

void rr_cli_args_init(rr_cli_args *a) {
    memset(a, 0, sizeof *a);
    a->sp = rerank_score_default_params();
    a->mp = rerank_model_default_params();
    a->top_k = -1;
    a->relevance_level = 1;
    a->trec_top_k = 100;
    a->convert_dtype = RERANK_DTYPE_AUTO;
    a->train = rerank_train_default_params();
    rr_server_config_default(&a->serve);
}
