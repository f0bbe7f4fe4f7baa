/* rerank.h - the public API of librerank, a native reranking engine.
 *
 * A reranker scores (query, passage) pairs: a raw relevance logit, or with `normalize` its sigmoid in
 * [0,1]. rerank loads Hugging Face model directories unchanged (config.json, tokenizer.json or
 * vocab.txt, *.safetensors) and reproduces FlagEmbedding's compute_score() numbers.
 *
 * Thread safety: a rerank_model is immutable after rerank_model_load() and may be shared by any number of
 * threads. A rerank_session owns scratch memory and must be used by one thread at a time; create one per
 * worker thread. The library never prints, never exits and never aborts on bad input: every fallible call
 * returns a rerank_status and, when `err` is not NULL, fills it with a one-line message.
 *
 * Usage:
 *
 *     rerank_error err;
 *     rerank_model *model;
 *     rerank_model_params mp = rerank_model_default_params();
 *     if (rerank_model_load("bge-reranker-v2-m3", &mp, &model, &err) != RERANK_OK) {
 *         fprintf(stderr, "%s\n", err.message); return 1;
 *     }
 *     rerank_session *s;
 *     rerank_session_new(model, &s, &err);
 *     rerank_score_params sp = rerank_score_default_params();
 *     sp.normalize = true;
 *     rerank_pair pairs[] = { RERANK_PAIR("what is panda?", "The giant panda is a bear.") };
 *     float score;
 *     if (rerank_score(s, &sp, pairs, 1, &score, &err) == RERANK_OK) printf("%f\n", score);
 *     rerank_session_free(s);
 *     rerank_model_free(model);
 */
#ifndef RERANK_H
#define RERANK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RERANK_VERSION "0.1.0"

/* ---------------------------------------------------------------------------------------------------
 * Status codes and errors
 * ------------------------------------------------------------------------------------------------- */
typedef enum rerank_status {
    RERANK_OK = 0,
    RERANK_ERR_INVALID_ARGUMENT, /* the caller passed a bad parameter (NULL, out-of-range option) */
    RERANK_ERR_IO,               /* a file is missing or cannot be read */
    RERANK_ERR_FORMAT,           /* a file's content is malformed (safetensors, JSON, tokenizer, shapes) */
    RERANK_ERR_UNSUPPORTED,      /* well-formed but not supported (architecture, dtype, tokenizer type) */
    RERANK_ERR_INPUT,            /* user input rejected (invalid UTF-8, pair too long for the model) */
    RERANK_ERR_NOMEM,            /* an allocation failed or a size computation overflowed */
    RERANK_ERR_INTERNAL,         /* a bug in rerank; please report it */
    RERANK_STATUS_COUNT
} rerank_status;

/* Per-call error carrier: the status again and a one-line message that names the file, tensor, field or
 * byte position at fault. */
typedef struct rerank_error {
    rerank_status status;
    char message[512];
} rerank_error;

/* A short constant name for a status, e.g. "format error". */
const char *rerank_status_string(rerank_status status);

/* ---------------------------------------------------------------------------------------------------
 * Models
 * ------------------------------------------------------------------------------------------------- */
typedef struct rerank_model rerank_model;

/* What a model computes; read from config.json's "architectures". */
typedef enum rerank_model_kind {
    RERANK_KIND_CROSS_ENCODER = 0, /* XLM-R / BERT sequence classification: one logit per pair */
    RERANK_KIND_LLM,               /* decoder LLM, score = "Yes" logit of the last token (bge-reranker-v2-gemma) */
    RERANK_KIND_LAYERWISE,         /* decoder LLM with one head per layer (bge-reranker-v2-minicpm-layerwise) */
    RERANK_KIND_QWEN3,             /* Qwen3-Reranker: P("yes") over {"yes","no"} at the last token */
} rerank_model_kind;

/* Weight precision used for computation. */
typedef enum rerank_dtype {
    RERANK_DTYPE_AUTO = 0, /* the default: fp32 compute for any stored dtype (a converted model: its own) */
    RERANK_DTYPE_F32,
    RERANK_DTYPE_BF16, /* dense weights (all model kinds) converted to bf16 at load (or stored so by
                        * rerank_model_convert), fp32 accumulation; any CPU (AVX512_BF16 dot products and AMX
                        * tiles where present, else bf16 widened to fp32 in registers) */
    RERANK_DTYPE_INT8, /* int8 weights (scale per output channel) x int8 activations (scale per token), FFN /
                        * MLP down-projection kept bf16; any CPU, the same int32 sums on each (VNNI / AMX where
                        * present, else 16-bit pair products) */
} rerank_dtype;

typedef struct rerank_model_params {
    rerank_dtype dtype; /* compute precision of the weights; RERANK_DTYPE_AUTO = fp32 (a converted model: its own) */
    const char *recipe; /* decoder LLMs: "flag-llm" (FlagLLMReranker) or "qwen3" (Qwen3-Reranker); NULL = by
                           architecture (Qwen3ForCausalLM: qwen3, other decoders: flag-llm) */
} rerank_model_params;

rerank_model_params rerank_model_default_params(void);

/* Loads a Hugging Face model directory: config.json, model.safetensors (or sharded
 * model-0000k-of-0000n.safetensors with model.safetensors.index.json) and tokenizer.json (or vocab.txt
 * for BERT). Weights are memory-mapped. On success *out owns the model; free it with rerank_model_free. */
rerank_status rerank_model_load(const char *dir, const rerank_model_params *params, rerank_model **out,
                                rerank_error *err);

/* Frees a model; NULL is a no-op. All sessions of the model must be freed first. */
void rerank_model_free(rerank_model *model);

/* Converts the dense weights of the model directory `dir` to `dtype` (RERANK_DTYPE_BF16 or RERANK_DTYPE_INT8;
 * the CPU must support it, as for loading) once and writes a new model directory `out_dir` (created; it must be
 * absent or empty): config.json with a "rerank_packed" key, model.safetensors with those weights packed as the
 * kernels read them and every other tensor unchanged, and the tokenizer and other files copied. Loading
 * out_dir then memory-maps the packed weights instead of converting them, and scores exactly as loading `dir`
 * with `dtype` does. The converted model loads with dtype AUTO or `dtype` only (another dtype is
 * RERANK_ERR_UNSUPPORTED), and is no longer a transformers checkpoint. */
rerank_status rerank_model_convert(const char *dir, const char *out_dir, rerank_dtype dtype, rerank_error *err);

typedef struct rerank_model_info {
    rerank_model_kind kind;
    const char *architecture; /* config.json architectures[0]; valid for the model's lifetime */
    int n_layers;
    int hidden_size;
    int vocab_size;
    int max_tokens;  /* the longest input the model accepts (e.g. 512 for bge-reranker-base, 8192 for v2-m3) */
} rerank_model_info;

void rerank_model_get_info(const rerank_model *model, rerank_model_info *info);

/* ---------------------------------------------------------------------------------------------------
 * Scoring
 * ------------------------------------------------------------------------------------------------- */
typedef struct rerank_session rerank_session;

/* A query/passage pair. Texts are UTF-8 with explicit lengths (they need no NUL terminator). */
typedef struct rerank_pair {
    const char *query;
    size_t query_len;
    const char *passage;
    size_t passage_len;
} rerank_pair;

#define RERANK_PAIR(q, p) ((rerank_pair){(q), strlen(q), (p), strlen(p)})

/* What to do with a passage that does not fit beside the query. */
typedef enum rerank_long_doc {
    RERANK_LONG_DOC_TRUNCATE = 0, /* cut the passage's tail, as FlagEmbedding does (the default) */
    RERANK_LONG_DOC_CHUNK,        /* score overlapping windows of the passage; report the best (MaxP) */
} rerank_long_doc;

typedef struct rerank_score_params {
    int max_length;       /* total token budget of one pair; default 512, lowered to the model's max_tokens */
    int query_max_length; /* query token budget; 0 = max_length * 3 / 4 (FlagEmbedding's default) */
    int batch_size;       /* pairs per forward pass (a memory bound, never changes scores); default 32 */
    bool normalize;       /* apply the sigmoid: scores in [0,1] instead of raw logits */
    int n_threads;        /* threads for one call; 0 = all cores */
    rerank_long_doc long_doc; /* truncation (default) or MaxP chunking */
    int chunk_overlap;    /* tokens shared by consecutive windows with RERANK_LONG_DOC_CHUNK; default 32 */
    bool split_special_tokens; /* treat special-token text in user input ("<s>", "[SEP]") as plain text;
                                  default false matches FlagEmbedding (HF tokenizers match it as a token) */
    /* LLM rerankers (ignored by cross-encoders) */
    const char *prompt;       /* FlagLLMReranker prompt; NULL = the default Yes/No prompt */
    const char *instruction;  /* Qwen3-Reranker instruction; NULL = the model card's default */
    const int *cutoff_layers; /* layerwise model: layers to score (ascending); NULL = the last layer */
    size_t n_cutoff_layers;
    bool prefix_reuse; /* decoder LLMs: run the tokens shared by all pairs of one query (instruction, query)
                          once per call and let every passage attend to them; default true. Scores are the
                          same up to float rounding; cross-encoders ignore it */
} rerank_score_params;

rerank_score_params rerank_score_default_params(void);

/* Creates a session (scratch memory for one thread) on a loaded model. The model must outlive it. */
rerank_status rerank_session_new(const rerank_model *model, rerank_session **out, rerank_error *err);

/* Frees a session; NULL is a no-op. */
void rerank_session_free(rerank_session *session);

/* Number of scores per pair under these params: the number of cutoff layers for the layerwise model,
 * else 1. Fails on invalid cutoff layers (message names the allowed range). */
rerank_status rerank_score_n_outputs(const rerank_model *model, const rerank_score_params *params, size_t *n_out,
                                     rerank_error *err);

/* Statistics of the last rerank_score call on a session. */
typedef struct rerank_score_stats {
    size_t n_tokens;  /* tokens run through the model (after truncation, special tokens included; with
                         prefix_reuse a query's shared prefix counts once) */
    size_t n_batches; /* forward passes (a shared prefix's counts as one) */
    size_t n_windows; /* sequences scored (more than pairs with RERANK_LONG_DOC_CHUNK) */
} rerank_score_stats;

void rerank_session_last_stats(const rerank_session *session, rerank_score_stats *stats);

/* Scores n_pairs pairs into scores[0..n_pairs*n_out-1] (n_out from rerank_score_n_outputs; score j of pair
 * i at scores[i*n_out + j]), in input order, exactly as FlagEmbedding's
 * compute_score(pairs, max_length, normalize): each query is truncated to query_max_length tokens, then the
 * passage is cut so the assembled pair fits max_length; pairs are sorted by length, batched and the order
 * restored. On an input error (e.g. invalid UTF-8) the message names the pair index and field, and no score
 * is written. */
rerank_status rerank_score(rerank_session *session, const rerank_score_params *params,
                           const rerank_pair *pairs, size_t n_pairs, float *scores, rerank_error *err);

/* ---------------------------------------------------------------------------------------------------
 * Tokenization: exactly the token ids the model sees for one pair
 * ------------------------------------------------------------------------------------------------- */
typedef struct rerank_encoding {
    int32_t *ids;      /* token ids, including special tokens */
    int32_t *type_ids; /* token type (segment) ids, same length */
    size_t n_tokens;
} rerank_encoding;

/* Encodes one pair as rerank_score would feed it to the model. *out is filled with arrays that the caller
 * releases with rerank_encoding_free. */
rerank_status rerank_tokenize(const rerank_model *model, const rerank_score_params *params,
                              const rerank_pair *pair, rerank_encoding *out, rerank_error *err);

void rerank_encoding_free(rerank_encoding *enc);

/* ---------------------------------------------------------------------------------------------------
 * Fine-tuning and evaluation (FlagEmbedding's reranker fine-tuning; `rerank train`, `eval`, `merge-lora`)
 * ------------------------------------------------------------------------------------------------- */
/* Receives one progress or report line (no newline). */
typedef void (*rerank_log_fn)(void *ctx, const char *line);

/* Training data: a .json/.jsonl file or a directory of them, one object per line:
 * {"query": str, "pos": [str], "neg": [str]} plus "prompt" (LLM rerankers) and "pos_scores"/"neg_scores"
 * (teacher scores for knowledge_distillation). Defaults: rerank_train_default_params. */
typedef struct rerank_train_params {
    const char *model;        /* the model directory to fine-tune (required) */
    const char *train_data;   /* file or directory (required) */
    const char *output_dir;   /* where the trained model and checkpoint-N directories go (required) */
    int group_size;           /* passages per query: 1 positive + group_size-1 sampled negatives; default 8 */
    int query_max_len;        /* query token budget; default 32 */
    int passage_max_len;      /* passage token budget; default 128 */
    int batch_size;           /* groups per process per micro-batch; default 8 */
    int grad_accum;           /* micro-batches per optimizer step; default 1 */
    double learning_rate;     /* peak learning rate; default 6e-5 */
    int epochs;               /* passes over the data; default 1 (ignored when max_steps > 0) */
    long max_steps;           /* > 0: exactly this many optimizer steps */
    double warmup_ratio;      /* linear warm-up over ceil(ratio * steps), then linear decay; default 0.1 */
    double weight_decay;      /* decoupled, not on biases and LayerNorm; default 0.01 */
    double max_grad_norm;     /* global gradient-norm clipping; default 1.0, 0 = off */
    bool knowledge_distillation; /* add the KD loss against softmax(teacher scores) */
    unsigned long long seed;  /* data order, group sampling, dropout, LoRA init; default 42 */
    long save_steps;          /* checkpoint every N steps (default 500; 0 = only at the end) */
    bool resume;              /* continue from the latest output_dir/checkpoint-N */
    bool skip_bad_lines;      /* train on the good rows instead of failing on a bad line */
    int threads;              /* threads of the training step; 0 = all cores */
    bool dropout;             /* the config's dropout while training; default true */
    bool merge;               /* LoRA: also write output_dir/merged_model */
    /* LoRA (decoder LLM rerankers; encoders are fully fine-tuned and ignore these) */
    int lora_rank;            /* default 64 */
    double lora_alpha;        /* default 16 */
    double lora_dropout;      /* default 0.1 */
    const char *lora_targets; /* comma-separated modules; default q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj */
    bool lora_train_heads;    /* layerwise model: train the per-layer heads too */
    rerank_log_fn log;        /* progress lines and every bad data line (process 0 only); NULL = none */
    void *log_ctx;
} rerank_train_params;

typedef struct rerank_train_result {
    long steps_run;           /* optimizer steps taken by this call */
    long total_steps;
    double first_loss, last_loss; /* of the first and last step of this call */
    double seconds;           /* wall time of the steps */
    size_t n_rows, n_skipped; /* training rows, bad lines skipped */
    int rank;                 /* this process's rank in a data-parallel (mpirun) job; 0 when alone */
} rerank_train_result;

rerank_train_params rerank_train_default_params(void);

/* Fine-tunes as FlagEmbedding does: encoders fully, decoder LLM rerankers with LoRA adapters. Every bad data
 * line is reported through params->log before training starts. */
rerank_status rerank_train(const rerank_train_params *params, rerank_train_result *out, rerank_error *err);

/* Merges a PEFT LoRA adapter into its decoder base model (base_dir NULL: adapter_config.json's
 * base_model_name_or_path); writes out_dir/merged_model. */
rerank_status rerank_merge_lora(const char *adapter_dir, const char *base_dir, const char *out_dir, rerank_error *err);

typedef struct rerank_eval_result {
    size_t n_rows;
    double mrr10, ndcg10, map; /* averages over the rows, binary relevance (pos relevant) */
} rerank_eval_result;

/* Ranks the pos + neg passages of every row of training-format data (as rerank_train reads it) with
 * rerank_score under params (a row's "prompt" replaces params->prompt; with several cutoff layers the highest
 * ranks) and averages MRR@10, nDCG@10 and MAP; equal scores rank negatives first. Bad lines are reported
 * through log (prefixed "skipped: " with skip_bad_lines) before anything is scored. */
rerank_status rerank_evaluate(const rerank_model *model, const rerank_score_params *params, const char *data_path,
                              bool skip_bad_lines, rerank_log_fn log, void *log_ctx, rerank_eval_result *out,
                              rerank_error *err);

#ifdef __cplusplus
}
#endif
#endif /* RERANK_H */
