/* test_stories260k.c - a real trained tiny Llama (Karpathy's stories260K, llama2.c format) converted to a
 * Hugging Face directory (config.json + model.safetensors) and decoded greedily from BOS: the 200 token
 * ids must equal those of the reference re-implementation of llama2.c's run.c. */
#include <unistd.h>

#include "arch/model.h"
#include "base/file.h"
#include "base/json.h"
#include "io/safetensors.h"
#include "test.h"

/* llama2.c legacy checkpoint: int32 header {dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size
 * (negative = separate classifier), seq_len}, then fp32 token_embedding[V,D], rms_att[L,D], wq[L,D,D],
 * wk[L,KD,D], wv[L,KD,D], wo[L,D,D], rms_ffn[L,D], w1[L,F,D], w2[L,D,F], w3[L,F,D], rms_final[D],
 * freq_cis_real/imag[seq_len, hd/2] (unused), [wcls[V,D]]. KD = n_kv_heads * D / n_heads. */
typedef struct {
    int dim, ffn, n_layers, n_heads, n_kv_heads, vocab, seq_len;
    int shared; /* classifier is token_embedding */
    const float *emb, *rms_att, *wq, *wk, *wv, *wo, *rms_ffn, *w1, *w2, *w3, *rms_final, *wcls;
} l2c_model;

/* Points m's tensors into data (size bytes); returns 0 if the sizes do not add up. */
static int l2c_parse(const unsigned char *data, size_t size, l2c_model *m) {
    int32_t h[7];
    if (size < sizeof h) return 0;
    memcpy(h, data, sizeof h);
    *m = (l2c_model){.dim = h[0], .ffn = h[1], .n_layers = h[2], .n_heads = h[3], .n_kv_heads = h[4],
                     .vocab = h[5] < 0 ? -h[5] : h[5], .seq_len = h[6], .shared = h[5] > 0};
    if (m->dim <= 0 || m->ffn <= 0 || m->n_layers <= 0 || m->n_heads <= 0 || m->n_kv_heads <= 0 || m->vocab <= 0 ||
        m->seq_len <= 0 || m->dim % m->n_heads || m->n_heads % m->n_kv_heads || m->dim > 4096 || m->ffn > 16384 ||
        m->n_layers > 64 || m->vocab > 100000 || m->seq_len > 65536)
        return 0;
    size_t D = (size_t)m->dim, F = (size_t)m->ffn, L = (size_t)m->n_layers, V = (size_t)m->vocab;
    size_t hd = D / (size_t)m->n_heads, KD = (size_t)m->n_kv_heads * hd;
    const float *p = (const float *)(const void *)(data + sizeof h), *end = (const float *)(const void *)(data + size);
#define TAKE(field, n)                                                                                       \
    do {                                                                                                     \
        if ((size_t)(end - p) < (n)) return 0;                                                               \
        m->field = p;                                                                                        \
        p += (n);                                                                                            \
    } while (0)
    TAKE(emb, V * D);
    TAKE(rms_att, L * D);
    TAKE(wq, L * D * D);
    TAKE(wk, L * KD * D);
    TAKE(wv, L * KD * D);
    TAKE(wo, L * D * D);
    TAKE(rms_ffn, L * D);
    TAKE(w1, L * F * D);
    TAKE(w2, L * D * F);
    TAKE(w3, L * F * D);
    TAKE(rms_final, D);
    size_t freq = (size_t)m->seq_len * hd; /* real and imaginary halves */
    if ((size_t)(end - p) < freq) return 0;
    p += freq;
    if (m->shared) return p == end;
    TAKE(wcls, V * D);
#undef TAKE
    return p == end;
}

/* llama2.c rotates interleaved pairs (2i, 2i+1); transformers rotates halves (i, i + hd/2). Row 2i + j of a
 * head becomes row j*hd/2 + i (transformers' convert_llama_weights_to_hf permute). */
static float *permute_rows(const float *w, int n_heads, int hd, int in) {
    float *out = malloc((size_t)n_heads * (size_t)hd * (size_t)in * sizeof *out);
    if (!out) return NULL;
    for (int h = 0; h < n_heads; h++)
        for (int i = 0; i < hd / 2; i++)
            for (int j = 0; j < 2; j++)
                memcpy(out + ((size_t)h * (size_t)hd + (size_t)(j * hd / 2 + i)) * (size_t)in,
                       w + ((size_t)h * (size_t)hd + (size_t)(2 * i + j)) * (size_t)in, (size_t)in * sizeof *out);
    return out;
}

/* Writes dir/config.json and dir/model.safetensors for checkpoint m. Returns 0 on failure. */
static int l2c_write_hf(const l2c_model *m, const char *dir) {
    char path[1024];
    json_t *c = json_pack("{s:[s],s:s,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:f,s:f,s:s,s:b,s:i,s:i}", "architectures",
                          "LlamaForCausalLM", "model_type", "llama", "hidden_size", m->dim, "intermediate_size", m->ffn,
                          "num_hidden_layers", m->n_layers, "num_attention_heads", m->n_heads, "num_key_value_heads",
                          m->n_kv_heads, "vocab_size", m->vocab, "max_position_embeddings", m->seq_len, "rms_norm_eps",
                          1e-5, "rope_theta", 10000.0, "hidden_act", "silu", "tie_word_embeddings", m->shared,
                          "bos_token_id", 1, "eos_token_id", 2);
    snprintf(path, sizeof path, "%s/config.json", dir);
    int ok = c && json_dump_file(c, path, JSON_INDENT(2)) == 0;
    json_decref(c);
    if (!ok) return 0;
    int L = m->n_layers, hd = m->dim / m->n_heads, KD = m->n_kv_heads * hd;
    size_t D = (size_t)m->dim, F = (size_t)m->ffn;
    size_t n = 3 + 9 * (size_t)L, k = 0;
    rr_st_write_tensor *t = calloc(n, sizeof *t);
    char(*names)[96] = calloc(n, sizeof *names);
    float **owned = calloc(2 * (size_t)L, sizeof *owned);
    if (!t || !names || !owned) ok = 0;
#define PUT(nm, ptr, d0, d1)                                                                                  \
    do {                                                                                                      \
        snprintf(names[k], sizeof names[k], "%s", nm);                                                         \
        t[k] = (rr_st_write_tensor){names[k], RR_ST_F32, (d1) ? 2 : 1, {(d0), (d1)}, (ptr)};                   \
        k++;                                                                                                  \
    } while (0)
    if (ok) {
        char nm[96];
        PUT("model.embed_tokens.weight", m->emb, m->vocab, m->dim);
        PUT("model.norm.weight", m->rms_final, m->dim, 0);
        if (!m->shared) PUT("lm_head.weight", m->wcls, m->vocab, m->dim);
        for (int l = 0; l < L && ok; l++) {
            size_t li = (size_t)l;
            owned[2 * l] = permute_rows(m->wq + li * D * D, m->n_heads, hd, m->dim);
            owned[2 * l + 1] = permute_rows(m->wk + li * (size_t)KD * D, m->n_kv_heads, hd, m->dim);
            if (!owned[2 * l] || !owned[2 * l + 1]) ok = 0;
#define LAYER(suffix, ptr, d0, d1)                                                                            \
    do {                                                                                                      \
        snprintf(nm, sizeof nm, "model.layers.%d.%s", l, suffix);                                              \
        PUT(nm, ptr, d0, d1);                                                                                 \
    } while (0)
            LAYER("input_layernorm.weight", m->rms_att + li * D, m->dim, 0);
            LAYER("self_attn.q_proj.weight", owned[2 * l], m->dim, m->dim);
            LAYER("self_attn.k_proj.weight", owned[2 * l + 1], KD, m->dim);
            LAYER("self_attn.v_proj.weight", m->wv + li * (size_t)KD * D, KD, m->dim);
            LAYER("self_attn.o_proj.weight", m->wo + li * D * D, m->dim, m->dim);
            LAYER("post_attention_layernorm.weight", m->rms_ffn + li * D, m->dim, 0);
            LAYER("mlp.gate_proj.weight", m->w1 + li * F * D, m->ffn, m->dim);
            LAYER("mlp.down_proj.weight", m->w2 + li * D * F, m->dim, m->ffn);
            LAYER("mlp.up_proj.weight", m->w3 + li * F * D, m->ffn, m->dim);
#undef LAYER
        }
    }
#undef PUT
    rerank_error err;
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    if (ok && rr_safetensors_write(path, t, k, &err)) {
        fprintf(stderr, "    %s\n", err.message);
        ok = 0;
    }
    for (int l = 0; owned && l < 2 * L; l++) free(owned[l]);
    free(owned);
    free(names);
    free(t);
    return ok;
}

/* The ids on the "IDS" line of the expected-output file; returns their count (at most cap). */
static size_t read_expected(const char *path, int32_t *ids, size_t cap) {
    char *buf;
    size_t len, n = 0;
    rerank_error err;
    if (rr_file_read(path, 1 << 20, &buf, &len, &err)) return 0;
    char *p = strstr(buf, "\nIDS ");
    if (p) {
        p += 5;
        char *e;
        for (long v; n < cap && (v = strtol(p, &e, 10), e != p); p = e) ids[n++] = (int32_t)v;
    }
    free(buf);
    return n;
}

TEST(stories260k_greedy_decoding) {
    enum { STEPS = 200 };
    rr_mapped_file f;
    rerank_error err;
    REQUIRE(rr_file_map(rr_shared_path("assets/stories260k-llama/stories260K.bin"), &f, &err) == RERANK_OK, "%s",
            err.message);
    int32_t want[STEPS + 1];
    size_t n_want = read_expected(rr_shared_path("assets/stories260k-llama/expected_greedy_t0_n200.txt"), want, STEPS + 1);
    CHECK(n_want == STEPS, "expected file has %zu ids", n_want);
    l2c_model lm;
    char dir[512];
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/rr_stories_XXXXXX", tmp && *tmp ? tmp : "/tmp");
    int ok = l2c_parse(f.data, f.size, &lm);
    CHECK(ok && lm.dim == 64 && lm.n_layers == 5 && lm.n_kv_heads == 4 && lm.shared, "bad llama2.c header");
    rr_model *m = NULL;
    if (ok && mkdtemp(dir)) {
        CHECK(l2c_write_hf(&lm, dir), "cannot write the converted model");
        char path[1024];
        snprintf(path, sizeof path, "%s/config.json", dir);
        json_t *config = NULL;
        if (rr_json_load_file(path, 1 << 20, &config, &err) || rr_model_load(dir, config, RERANK_DTYPE_AUTO, &m, &err))
            CHECK(0, "%s", err.message);
        json_decref(config);
        unlink(path);
        snprintf(path, sizeof path, "%s/model.safetensors", dir);
        unlink(path);
        rmdir(dir);
    }
    if (m) {
        const rr_model_desc *d = rr_model_describe(m);
        CHECK(d->kind == RERANK_KIND_LLM && d->bos_token_id == 1 && d->max_tokens == 512);
        int32_t ids[STEPS + 1] = {1}; /* BOS */
        float *logits = malloc((size_t)d->vocab_size * sizeof *logits);
        rr_workspace *ws = rr_workspace_new();
        size_t n = 1, match = 0;
        for (; n <= STEPS; n++) {
            size_t offs[2] = {0, n};
            rr_batch b = {.ids = ids, .offsets = offs, .n_seqs = 1, .all_vocab = true};
            if (rr_model_forward(m, &b, ws, logits, &err)) {
                CHECK(0, "%s", err.message);
                break;
            }
            int best = 0;
            for (int v = 1; v < d->vocab_size; v++)
                if (logits[v] > logits[best]) best = v;
            ids[n] = best;
            if (n - 1 < n_want && ids[n] == want[n - 1] && match == n - 1) match = n;
        }
        CHECK(match == STEPS, "greedy ids agree for the first %zu of %d tokens", match, STEPS);
        fprintf(stderr, "    stories260K: %zu/%d greedy tokens match\n", match, STEPS);
        rr_workspace_free(ws);
        free(logits);
        rr_model_free(m);
    }
    rr_file_unmap(&f);
}
