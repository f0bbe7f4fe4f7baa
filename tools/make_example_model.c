/* make_example_model.c - writes a tiny BERT cross-encoder with random weights (config.json, vocab.txt,
 * model.safetensors) so the quick start runs without downloading anything. It is a SMOKE-TEST model: its
 * scores carry no meaning. Usage: make_example_model OUT_DIR */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io/safetensors.h"

enum { HIDDEN = 64, LAYERS = 2, HEADS = 4, FFN = 128, POSITIONS = 512, TYPES = 2 };

static const char *const words[] = {
    "the", "of", "and", "a", "to", "in", "is", "was", "for", "on", "are", "as", "with", "it", "by", "at", "from",
    "that", "this", "be", "or", "an", "which", "has", "have", "not", "but", "its", "their", "what", "where",
    "when", "who", "how", "why", "does", "do", "can", "many", "much", "most", "more", "city", "capital",
    "country", "france", "paris", "china", "panda", "bear", "giant", "species", "animal", "food", "bamboo",
    "eat", "eats", "live", "lives", "forest", "mountain", "river", "sea", "water", "fruit", "apple", "red",
    "green", "tree", "garden", "llama", "search", "engine", "rank", "query", "passage", "document", "answer",
    "question", "model", "language", "computer", "data", "science", "history", "world", "people", "year",
    "large", "small", "new", "old", "first", "last", "best", "good", "known", "called", "also", "very", "one",
    "two", "three", "population", "largest", "famous", "museum", "tower", "europe", "asia", "weather", "rain",
};

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static double uniform(void) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return ((rng >> 11) + 0.5) / 9007199254740992.0;
}
static float normal(float sd) { return sd * (float)(sqrt(-2 * log(uniform())) * cos(6.283185307179586 * uniform())); }

static float *tensor(size_t n, float sd, float mean) {
    float *t = malloc(n * sizeof *t);
    for (size_t i = 0; i < n; i++) t[i] = mean + normal(sd);
    return t;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: make_example_model OUT_DIR\n");
        return 2;
    }
    const char *dir = argv[1];
    mkdir(dir, 0755);
    char path[4096];
    /* vocab: BERT's special tokens, characters (plain and ## continuations), then whole words */
    snprintf(path, sizeof path, "%s/vocab.txt", dir);
    FILE *f = fopen(path, "w");
    if (!f) return perror(path), 1;
    int vocab = 0;
    const char *specials[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
    for (int i = 0; i < 5; i++, vocab++) fprintf(f, "%s\n", specials[i]);
    for (int c = 33; c < 127; c++, vocab++) fprintf(f, "%c\n", c);
    for (int c = 'a'; c <= 'z'; c++, vocab++) fprintf(f, "##%c\n", c);
    for (int c = '0'; c <= '9'; c++, vocab++) fprintf(f, "##%c\n", c);
    for (size_t i = 0; i < sizeof words / sizeof *words; i++, vocab++) fprintf(f, "%s\n", words[i]);
    fclose(f);

    snprintf(path, sizeof path, "%s/config.json", dir);
    f = fopen(path, "w");
    if (!f) return perror(path), 1;
    fprintf(f,
            "{\n  \"_comment\": \"SMOKE-TEST MODEL with random weights written by make_example_model: its scores "
            "carry no meaning\",\n  \"architectures\": [\"BertForSequenceClassification\"],\n"
            "  \"model_type\": \"bert\",\n  \"hidden_size\": %d,\n  \"num_hidden_layers\": %d,\n"
            "  \"num_attention_heads\": %d,\n  \"intermediate_size\": %d,\n  \"hidden_act\": \"gelu\",\n"
            "  \"max_position_embeddings\": %d,\n  \"type_vocab_size\": %d,\n  \"vocab_size\": %d,\n"
            "  \"layer_norm_eps\": 1e-12,\n  \"pad_token_id\": 0,\n  \"id2label\": {\"0\": \"LABEL_0\"},\n"
            "  \"label2id\": {\"LABEL_0\": 0}\n}\n",
            HIDDEN, LAYERS, HEADS, FFN, POSITIONS, TYPES, vocab);
    fclose(f);
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    f = fopen(path, "w");
    if (!f) return perror(path), 1;
    fprintf(f, "{\"do_lower_case\": true, \"tokenizer_class\": \"BertTokenizer\"}\n");
    fclose(f);

    rr_st_write_tensor t[64];
    float *owned[64];
    size_t n = 0;
    char names[64][96];
#define ADD(nm, d0, d1, sd, mean)                                                         \
    do {                                                                                  \
        snprintf(names[n], sizeof names[n], "%s", nm);                                   \
        owned[n] = tensor((size_t)(d0) * ((d1) ? (d1) : 1), sd, mean);                   \
        t[n] = (rr_st_write_tensor){names[n], RR_ST_F32, (d1) ? 2 : 1, {(d0), (d1)}, owned[n]}; \
        n++;                                                                              \
    } while (0)
    ADD("bert.embeddings.word_embeddings.weight", vocab, HIDDEN, 0.15f, 0);
    ADD("bert.embeddings.position_embeddings.weight", POSITIONS, HIDDEN, 0.15f, 0);
    ADD("bert.embeddings.token_type_embeddings.weight", TYPES, HIDDEN, 0.15f, 0);
    ADD("bert.embeddings.LayerNorm.weight", HIDDEN, 0, 0.1f, 1);
    ADD("bert.embeddings.LayerNorm.bias", HIDDEN, 0, 0.05f, 0);
    for (int l = 0; l < LAYERS; l++) {
        char nm[96];
        const char *lin[][3] = {{"attention.self.query", "", ""}, {"attention.self.key", "", ""},
                                {"attention.self.value", "", ""}, {"attention.output.dense", "", ""}};
        for (int k = 0; k < 4; k++) {
            snprintf(nm, sizeof nm, "bert.encoder.layer.%d.%s.weight", l, lin[k][0]);
            ADD(nm, HIDDEN, HIDDEN, 0.15f, 0);
            snprintf(nm, sizeof nm, "bert.encoder.layer.%d.%s.bias", l, lin[k][0]);
            ADD(nm, HIDDEN, 0, 0.05f, 0);
        }
        snprintf(nm, sizeof nm, "bert.encoder.layer.%d.attention.output.LayerNorm.weight", l);
        ADD(nm, HIDDEN, 0, 0.1f, 1);
        snprintf(nm, sizeof nm, "bert.encoder.layer.%d.attention.output.LayerNorm.bias", l);
        ADD(nm, HIDDEN, 0, 0.05f, 0);
        snprintf(nm, sizeof nm, "bert.encoder.layer.%d.intermediate.dense.weight", l);
        ADD(nm, FFN, HIDDEN, 0.15f, 0);
        snprintf(nm, sizeof nm, "bert.encoder.layer.%d.intermediate.dense.bias", l);
        ADD(nm, FFN, 0, 0.05f, 0);
        snprintf(nm, sizeof nm, "bert.encoder.layer.%d.output.dense.weight", l);
        ADD(nm, HIDDEN, FFN, 0.15f, 0);
        snprintf(nm, sizeof nm, "bert.encoder.layer.%d.output.dense.bias", l);
        ADD(nm, HIDDEN, 0, 0.05f, 0);
        snprintf(nm, sizeof nm, "bert.encoder.layer.%d.output.LayerNorm.weight", l);
        ADD(nm, HIDDEN, 0, 0.1f, 1);
        snprintf(nm, sizeof nm, "bert.encoder.layer.%d.output.LayerNorm.bias", l);
        ADD(nm, HIDDEN, 0, 0.05f, 0);
    }
    ADD("bert.pooler.dense.weight", HIDDEN, HIDDEN, 0.15f, 0);
    ADD("bert.pooler.dense.bias", HIDDEN, 0, 0.05f, 0);
    ADD("classifier.weight", 1, HIDDEN, 0.15f, 0);
    ADD("classifier.bias", 1, 0, 0.05f, 0);
#undef ADD
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    rerank_error err;
    int rc = 0;
    if (rr_safetensors_write(path, t, n, &err)) {
        fprintf(stderr, "make_example_model: %s\n", err.message);
        rc = 1;
    }
    for (size_t i = 0; i < n; i++) free(owned[i]);
    if (!rc) printf("wrote a smoke-test BERT cross-encoder (random weights, %d-token vocab) to %s\n", vocab, dir);
    return rc;
}
