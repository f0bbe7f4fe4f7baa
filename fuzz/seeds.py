#!/usr/bin/env python3
"""seeds.py - regenerates the derived seed corpora under fuzz/corpus/ and the dictionaries under fuzz/dict/ from the
test checkpoints (tests/data/testdata/<x>, else $RERANK_SHARED/testdata/<x>, else ../shared/testdata/<x>): real-format files
cut down to a few hundred vocabulary entries so that every seed loads fast and the fuzzer mutates valid inputs.
Run from the repository root: python3 fuzz/seeds.py. The hand-written seeds (HTTP bodies, texts) live beside."""
import base64
import json
import os
import re
import struct

OUT = "fuzz/corpus"


def data(rel):
    roots = ["tests/data/testdata"]
    if os.environ.get("RERANK_SHARED"):
        roots.append(os.environ["RERANK_SHARED"] + "/testdata")
    roots.append("../shared/testdata")
    for r in roots:
        if os.path.exists(os.path.join(r, rel)):
            return os.path.join(r, rel)
    raise SystemExit("seeds.py: test data %s not found" % rel)


def put(target, name, blob):
    os.makedirs(os.path.join(OUT, target), exist_ok=True)
    if isinstance(blob, str):
        blob = blob.encode()
    with open(os.path.join(OUT, target, name), "wb") as f:
        f.write(blob)


def dump(j):
    return json.dumps(j, ensure_ascii=False, separators=(",", ":"))


MODELS = ["xlmr-seqcls-tiny", "bert-seqcls-tiny", "gemma-causal-tiny-bf16", "qwen3-causal-tiny", "qwen2-causal-tiny",
          "minicpm-layerwise-tiny", "xlmr-seqcls-tiny-f16"]


# ---- config.json: the checkpoints' own (a few hundred bytes each) ----
def configs():
    for m in MODELS:
        put("fuzz_config", m + ".json", open(data(m + "/config.json"), "rb").read())


# ---- tokenizer.json cut down: ids below `keep` (renumbered densely), added tokens after them ----
def cut_tokenizer(m, keep, extra=()):
    """The tokenizer of checkpoint m with ids below `keep` (plus the tokens `extra`), renumbered densely."""
    j = json.load(open(data(m + "/tokenizer.json"), encoding="utf-8"))
    mo = j["model"]
    remap = {}
    if mo["type"] == "Unigram":
        mo["vocab"] = mo["vocab"][:keep]
        remap = {i: i for i in range(keep)}
    else:
        items = sorted(mo["vocab"].items(), key=lambda kv: kv[1])
        items = items[:keep] + [kv for kv in items[keep:] if kv[0] in extra]
        remap = {old: new for new, (_, old) in enumerate(items)}
        mo["vocab"] = {tok: remap[old] for tok, old in items}
    nxt = len(remap)
    for a in j["added_tokens"]:
        if a["id"] not in remap:
            remap[a["id"]] = nxt
            nxt += 1
        a["id"] = remap[a["id"]]
    if mo.get("merges"):
        vocab = mo["vocab"]
        kept = []
        for mg in mo["merges"]:
            a, b = mg.split(" ", 1) if isinstance(mg, str) else mg
            if a in vocab and b in vocab and a + b in vocab:
                kept.append(mg)
        mo["merges"] = kept
    if mo["type"] == "Unigram" and mo.get("unk_id") is not None and mo["unk_id"] >= keep:
        mo["unk_id"] = 0
    pp = j.get("post_processor")
    for proc in (pp.get("processors", [pp]) if pp else []):
        for st in (proc.get("special_tokens") or {}).values():
            st["ids"] = [remap.get(i, 0) for i in st["ids"]]
    return j


def tiny_charsmap():
    """A precompiled_charsmap (u32 trie size, darts-clone double array, NUL-separated replacements) mapping "A" to
    "a" and "B" to "b": the real ones are 237 kB. Root offset 0x100: "A" sits at 0x100 ^ 0x41, its value unit at
    that position ^ 0x200."""
    units = [0] * 835
    units[0] = 0x100 << 10
    norm = b""
    for c, rep in ((0x41, b"a"), (0x42, b"b")):
        pos = 0x100 ^ c
        units[pos] = (0x200 << 10) | (1 << 8) | c
        units[pos ^ 0x200] = 0x80000000 | len(norm)
        norm += rep + b"\0"
    blob = struct.pack("<I", 4 * len(units)) + struct.pack("<%dI" % len(units), *units) + norm
    return base64.b64encode(blob).decode()


def tokenizers():
    t = "fuzz_tokenizer_json"
    x = cut_tokenizer("xlmr-seqcls-tiny", 300)
    # the Precompiled charsmap alone is 316 kB: the seeds take other normalizers of the same pipeline
    x["normalizer"]["normalizers"][0] = {"type": "NFKC"}
    put(t, "unigram-metaspace.json", dump(x))
    x["normalizer"] = {"type": "Sequence", "normalizers": [{"type": "Lowercase"}, {"type": "NFD"}, {"type": "StripAccents"},
                                                           {"type": "Strip", "strip_left": True, "strip_right": True}]}
    x["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [{"type": "WhitespaceSplit"}, {"type": "Whitespace"},
                                                               {"type": "Split", "pattern": {"String": "-"}, "behavior": "MergedWithNext", "invert": False},
                                                               {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "first", "split": False}]}
    put(t, "unigram-variants.json", dump(x))
    x["normalizer"] = {"type": "Sequence", "normalizers": [{"type": "Precompiled", "precompiled_charsmap": tiny_charsmap()},
                                                           {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "}]}
    put(t, "unigram-precompiled.json", dump(x))
    b = cut_tokenizer("bert-seqcls-tiny", 300)
    put(t, "wordpiece-bert.json", dump(b))
    b["normalizer"] = {"type": "BertNormalizer", "clean_text": False, "handle_chinese_chars": False, "strip_accents": True, "lowercase": False}
    b["pre_tokenizer"] = {"type": "Whitespace"}
    b["post_processor"] = {"type": "BertProcessing", "sep": ["[SEP]", 13], "cls": ["[CLS]", 12]}
    put(t, "wordpiece-variants.json", dump(b))
    put(t, "bpe-bytefallback-gemma.json", dump(cut_tokenizer("gemma-causal-tiny-bf16", 400)))
    put(t, "bpe-prepend-minicpm.json", dump(cut_tokenizer("minicpm-layerwise-tiny", 400)))
    q = cut_tokenizer("qwen3-causal-tiny", 400)
    put(t, "bpe-bytelevel-qwen3.json", dump(q))
    q["post_processor"] = {"type": "RobertaProcessing", "sep": ["<|endoftext|>", q["added_tokens"][0]["id"]],
                           "cls": ["<|endoftext|>", q["added_tokens"][0]["id"]], "trim_offsets": True, "add_prefix_space": True}
    q["pre_tokenizer"] = {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True}
    q["normalizer"] = {"type": "Sequence", "normalizers": [{"type": "NFKD"}, {"type": "Replace", "pattern": {"Regex": "\\s+"}, "content": " "}]}
    put(t, "bpe-bytelevel-variants.json", dump(q))


# ---- SentencePiece tokenizer.model (protobuf): the small ones whole, XLM-R's pieces cut to 300 ----
def varint(b, i):
    v = s = 0
    while True:
        c = b[i]
        i += 1
        v |= (c & 0x7F) << s
        s += 7
        if not c & 0x80:
            return v, i


def enc_varint(v):
    out = bytearray()
    while True:
        c = v & 0x7F
        v >>= 7
        out.append(c | (0x80 if v else 0))
        if not v:
            return bytes(out)


def fields(b):
    i = 0
    while i < len(b):
        key, j = varint(b, i)
        wt = key & 7
        body_at = j
        if wt == 0:
            _, k = varint(b, j)
        elif wt == 2:
            n, body_at = varint(b, j)
            k = body_at + n
        elif wt == 5:
            k = j + 4
        elif wt == 1:
            k = j + 8
        else:
            raise ValueError("wire type %d" % wt)
        yield key >> 3, wt, b[i:k], b[body_at:k]
        i = k


def cut_spm(path, n_pieces):
    """The model's first n_pieces pieces, its trainer_spec, and its normalizer_spec without the charsmap."""
    b = open(data(path), "rb").read()
    out, pieces = bytearray(), 0
    for num, wt, raw, body in fields(b):
        if num == 1:
            pieces += 1
            if pieces > n_pieces:
                continue
        if num == 3 and wt == 2:  # normalizer_spec: drop the precompiled charsmap (field 2), keep the flags
            inner = bytearray()
            for n2, _, raw2, _ in fields(body):
                if n2 != 2:
                    inner += raw2
            out += bytes([raw[0]]) + enc_varint(len(inner)) + inner
            continue
        out += raw
    return bytes(out)


def spm_models():
    t = "fuzz_spm_model"
    put(t, "gemma-bpe-400.model", cut_spm("gemma-causal-tiny-bf16/tokenizer.model", 400))
    put(t, "minicpm-bpe-400.model", cut_spm("minicpm-layerwise-tiny/tokenizer.model", 400))
    put(t, "xlmr-unigram-300.model", cut_spm("xlmr-seqcls-tiny/sentencepiece.bpe.model", 300))


# ---- HTTP bodies as tests/test_server*.c send them; the first byte picks the API ('0' v1, '1' v2, '2' TEI) ----
HTTP = [
    '0{"model":"m","query":"what is a panda?","documents":["The giant panda is a bear native to China.","hello"],'
    '"top_n":1,"return_documents":true}',
    '1{"model":"m","query":"what is a panda?","documents":["hello world"],"raw_scores":true}',
    '1{"query":"panda","documents":[{"text":"a b c"},"d e"],"long_doc":"chunk","max_tokens_per_doc":7}',
    '0{"query":"q","documents":["a"],"instruction":"Find it","prompt":"Yes?","cutoff_layers":[2,3]}',
    '2{"query":"what is a panda?","texts":["a","b","c"],"raw_scores":false,"return_text":true,"truncate":true,'
    '"truncation_direction":"Right"}',
    '2{"query":"q\u00e9","texts":["one two three"],"raw_scores":true}',
]


# ---- safetensors: tiny files of each dtype, with and without metadata, and real headers cut to 3 tensors ----
def st_file(tensors, meta=None):
    hdr, blob = {}, b""
    if meta is not None:
        hdr["__metadata__"] = meta
    for name, dtype, shape, payload in tensors:
        hdr[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(blob), len(blob) + len(payload)]}
        blob += payload
    h = json.dumps(hdr).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + blob


def safetensors():
    t = "fuzz_safetensors"
    put(t, "f32.safetensors", st_file([("w", "F32", [2, 2], struct.pack("<4f", 1, 2, 3, 4))], {"format": "pt"}))
    put(t, "mixed.safetensors", st_file([("a.weight", "F16", [3], b"\x00\x3c" * 3), ("b.bias", "BF16", [1, 2], b"\x80\x3f" * 2),
                                          ("ids", "I64", [2], struct.pack("<2q", 7, -1)), ("empty", "F32", [0, 4], b"")]))
    put(t, "scalar.safetensors", st_file([("s", "F64", [], struct.pack("<d", 0.5)), ("u", "U8", [4], b"abcd"),
                                          ("i32", "I32", [1], struct.pack("<i", 5))], {}))
    # a real header (bert-seqcls-tiny) with only its first three tensors kept and their data cut to 4 elements
    b = open(data("bert-seqcls-tiny/model.safetensors"), "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    hdr = json.loads(b[8:8 + n])
    keep = [k for k in hdr if k != "__metadata__"][:3]
    tens = []
    for k in keep:
        e = hdr[k]
        size = {"F32": 4, "F16": 2, "BF16": 2}.get(e["dtype"], 4)
        tens.append((k, e["dtype"], [4], b[8 + n + e["data_offsets"][0]:][:4 * size]))
    put(t, "bert-cut.safetensors", st_file(tens, hdr.get("__metadata__")))


# ---- texts for the tokenizers and the scoring target: a query and a passage split at the first newline ----
TEXTS = [
    "what is panda?\nThe giant panda (Ailuropoda melanoleuca) is a bear species endemic to China.",
    "Hello  world! <s> x</s> [SEP] <mask>\n<|im_start|>user caf\u00e9 na\u00efve",
    "\u4e2d\u6587\u67e5\u8be2\n\u5927\u718a\u732b\u662f\u4e2d\u56fd\u7279\u6709\u7684\u718a\u79d1\u52a8\u7269\u3002",
    "\uff46\uff55\uff4c\uff4c \u339e \u2460 e\u0301\n\U0001F44D\U0001F3FD \t $1,000,000.00 don't I'll",
    "\u0645\u0631\u062d\u0628\u0627\n\u041f\u0440\u0438\u0432\u0435\u0442 \u043c\u0438\u0440 \u0928\u092e\u0938\u094d\u0924\u0947",
]


def http():
    for i, body in enumerate(HTTP):
        put("fuzz_http_request", "body%d.json" % i, body)


def texts():
    for i, s in enumerate(TEXTS):
        put("fuzz_tokenizer", "text%d.txt" % i, s)
    # fuzz_score: 4 parameter bytes (model, max_length, flags, overlap/cutoff layers; see fuzz_score.c), then
    # "query\npassage\npassage"; every model with every text, varied flags
    for m in range(5):
        for i, s in enumerate(TEXTS):
            params = bytes([m, 20 + 9 * i, (37 * (m + i)) & 0xFF, 8 | (i << 4) | (m & 4)])
            put("fuzz_score", "m%d-pair%d" % (m, i), params + (s + "\nsecond passage").encode())


# ---- training rows: the checkpoints' JSONL files, and rows with every optional key ----
def train_rows():
    t = "fuzz_train_data"
    put(t, "rows.jsonl", open(data("train/xlmr-seqcls-tiny/train_data.jsonl"), "rb").read())
    put(t, "rows_kd.jsonl", open(data("train/xlmr-seqcls-tiny/train_data_kd.jsonl"), "rb").read())
    put(t, "prompts.jsonl", "\ufeff" + dump({"query": "q", "pos": ["p"], "neg": ["n1", "n2"], "prompt": "Yes or No?",
                                              "query_prompt": "A: ", "passage_prompt": "B: "}) + "\r\n\n" +
        dump({"query": "q2", "pos": ["p2"], "neg": [], "pos_scores": [1], "neg_scores": []}) + "\n")


# ---- dictionaries: JSON syntax plus every key and short string value of the real files ----
def json_words(j, acc):
    if isinstance(j, dict):
        for k, v in j.items():
            if k in ("vocab", "merges", "precompiled_charsmap"):
                acc.add(k)
                continue
            acc.add(k)
            json_words(v, acc)
    elif isinstance(j, list):
        for v in j[:64]:
            json_words(v, acc)
    elif isinstance(j, str) and len(j) < 40:
        acc.add(j)


def write_dict(name, words):
    os.makedirs("fuzz/dict", exist_ok=True)
    base = ['"{"', '"}"', '"["', '"]"', '":"', '","', '"true"', '"false"', '"null"', '"0"', '"-1"', '"1e9"', '"0.5"',
            '"\\\\u0000"', '"\\\\ud800"', '"\\\\""']
    lines = ["# %s.dict - libFuzzer dictionary, generated by fuzz/seeds.py" % name] + base
    for w in sorted(words):
        if not w or "\n" in w or len(w.encode()) > 40:
            continue
        esc = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "".join("\\x%02X" % x for x in c.encode())
                      for c in '"%s"' % w)
        lines.append('"%s"' % esc)
    with open("fuzz/dict/%s.dict" % name, "w") as f:
        f.write("\n".join(lines) + "\n")


def dictionaries():
    cfg = set()
    for m in MODELS:
        json_words(json.load(open(data(m + "/config.json"))), cfg)
    write_dict("config", cfg)
    tok = set()
    for m in MODELS[:6]:
        json_words(json.load(open(data(m + "/tokenizer.json"), encoding="utf-8")), tok)
    # the names the loader compares against (src/tok/*.c string literals that look like identifiers)
    for f in os.listdir("src/tok"):
        if f.endswith(".c"):
            tok.update(w for w in re.findall(r'"([A-Za-z_][A-Za-z0-9_]{1,30})"', open("src/tok/" + f).read()))
    write_dict("tokenizer_json", tok)
    http = {"query", "documents", "texts", "text", "top_n", "return_documents", "return_text", "raw_scores", "model",
            "long_doc", "chunk", "truncate", "instruction", "prompt", "cutoff_layers", "max_tokens_per_doc", "truncate",
            "truncation_direction", "Right", "Left", "normalize", "max_length", "query_max_length"}
    for f in os.listdir("src/server"):
        if f.endswith(".c"):
            http.update(w for w in re.findall(r'"([A-Za-z_][A-Za-z0-9_]{1,30})"', open("src/server/" + f).read()))
    write_dict("http_request", http)
    rows = {"query", "pos", "neg", "prompt", "query_prompt", "passage_prompt", "pos_scores", "neg_scores", "\ufeff"}
    write_dict("train_data", rows)
    # adapter_config.json's keys and values as LoraConfig writes them, the string literals adapter.c compares
    # against, the safetensors header's keys and dtypes, and pieces of PEFT tensor names
    ad = set()
    json_words(json.loads(ad_config("x", 1, 2, ["q_proj"])), ad)
    ad.update(w for w in re.findall(r'"([A-Za-z_][A-Za-z0-9_.]{1,40})"', open("src/arch/adapter.c").read()))
    ad.update(["dtype", "shape", "data_offsets", "__metadata__", "F32", "F16", "BF16", "F64", "I64", "U8", "BOOL",
               "base_model.model.", "base_model.model.model.layers.", ".lora_A.weight", ".lora_B.weight",
               "lora_embedding_A", "lm_head.", ".linear_head.weight", "model.layers.1.", "self_attn.", "mlp.",
               "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj", "linear_head",
               "embed_tokens", "CAUSAL_LM", "SEQ_CLS", "IA3", "LORA", "all-linear", ".*", "/", ".", "..",
               "auto_mapping", "base_model_class", "Qwen3ForCausalLM", "GemmaForCausalLM", "LlamaForCausalLM"])
    write_dict("adapter_dir", ad)


# ---- whole model directories for fuzz_model_dir: a micro BERT cross-encoder (hidden 4, one layer) as records
# [file index][u16 length][content]; file indices as in fuzz_model_dir.c's names[] ----
MD_NAMES = ["config.json", "model.safetensors", "model.safetensors.index.json", "model-00001-of-00002.safetensors",
            "model-00002-of-00002.safetensors", "tokenizer.json", "tokenizer.model", "vocab.txt", "tokenizer_config.json",
            "special_tokens_map.json"]


def record(name, blob):
    if isinstance(blob, str):
        blob = blob.encode()
    assert len(blob) < 65536
    return bytes([MD_NAMES.index(name)]) + struct.pack("<H", len(blob)) + blob


def micro_bert(vocab, dtype):
    h, ffn, pos = 4, 8, 32
    cfg = {"architectures": ["BertForSequenceClassification"], "model_type": "bert", "hidden_size": h,
           "num_hidden_layers": 1, "num_attention_heads": 1, "intermediate_size": ffn, "hidden_act": "gelu",
           "max_position_embeddings": pos, "type_vocab_size": 2, "vocab_size": vocab, "layer_norm_eps": 1e-12,
           "pad_token_id": 0, "id2label": {"0": "LABEL_0"}}
    shapes = [("bert.embeddings.word_embeddings.weight", [vocab, h]), ("bert.embeddings.position_embeddings.weight", [pos, h]),
              ("bert.embeddings.token_type_embeddings.weight", [2, h]), ("bert.embeddings.LayerNorm.weight", [h]),
              ("bert.embeddings.LayerNorm.bias", [h])]
    pre = "bert.encoder.layer.0."
    for lin in ["attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"]:
        shapes += [(pre + lin + ".weight", [h, h]), (pre + lin + ".bias", [h])]
    shapes += [(pre + "attention.output.LayerNorm.weight", [h]), (pre + "attention.output.LayerNorm.bias", [h]),
               (pre + "intermediate.dense.weight", [ffn, h]), (pre + "intermediate.dense.bias", [ffn]),
               (pre + "output.dense.weight", [h, ffn]), (pre + "output.dense.bias", [h]),
               (pre + "output.LayerNorm.weight", [h]), (pre + "output.LayerNorm.bias", [h]),
               ("bert.pooler.dense.weight", [h, h]), ("bert.pooler.dense.bias", [h]), ("classifier.weight", [1, h]),
               ("classifier.bias", [1])]
    tens = []
    for i, (name, shape) in enumerate(shapes):
        n = 1
        for d in shape:
            n *= d
        vals = [((i * 31 + k * 17) % 13 - 6) / 20.0 + (1.0 if "LayerNorm.weight" in name else 0.0) for k in range(n)]
        payload = struct.pack("<%de" % n, *vals) if dtype == "F16" else struct.pack("<%df" % n, *vals)
        tens.append((name, dtype, shape, payload))
    return json.dumps(cfg), tens


def micro_qwen3():
    """Qwen3 with hidden 16, 2 heads of 8 (1 key/value head), one layer, tied embeddings, and the tokenizer cut
    to 400 entries and "yes" / "no" (its 26 added tokens renumbered after them)."""
    tok = cut_tokenizer("qwen3-causal-tiny", 400, extra=("yes", "no"))
    n_base = len(tok["model"]["vocab"])
    vocab = n_base + len(tok["added_tokens"])
    h, hd, heads, kv, ffn = 16, 8, 2, 1, 32
    cfg = json.load(open(data("qwen3-causal-tiny/config.json")))
    cfg.update({"hidden_size": h, "head_dim": hd, "num_attention_heads": heads, "num_key_value_heads": kv,
                "intermediate_size": ffn, "num_hidden_layers": 1, "vocab_size": vocab, "bos_token_id": n_base,
                "eos_token_id": n_base + 2, "max_position_embeddings": 256})
    pre = "model.layers.0."
    shapes = [("model.embed_tokens.weight", [vocab, h]), (pre + "input_layernorm.weight", [h]),
              (pre + "mlp.down_proj.weight", [h, ffn]), (pre + "mlp.gate_proj.weight", [ffn, h]),
              (pre + "mlp.up_proj.weight", [ffn, h]), (pre + "post_attention_layernorm.weight", [h]),
              (pre + "self_attn.k_norm.weight", [hd]), (pre + "self_attn.k_proj.weight", [kv * hd, h]),
              (pre + "self_attn.o_proj.weight", [h, heads * hd]), (pre + "self_attn.q_norm.weight", [hd]),
              (pre + "self_attn.q_proj.weight", [heads * hd, h]), (pre + "self_attn.v_proj.weight", [kv * hd, h]),
              ("model.norm.weight", [h])]
    tens = []
    for i, (name, shape) in enumerate(shapes):
        n = 1
        for d in shape:
            n *= d
        vals = [((i * 29 + k * 13) % 11 - 5) / 16.0 + (1.0 if "norm" in name else 0.0) for k in range(n)]
        tens.append((name, "F16", shape, struct.pack("<%de" % n, *vals)))
    return json.dumps(cfg), tens, dump(tok)


def model_dirs():
    t = "fuzz_model_dir"
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "what", "is", "a", "the", "panda", "bear", "giant", "?",
             "##s", "##a", "b", "c", "d", "e", "g", "h", "i", "n", "p", "r", "t", "w"]
    cfg, tens = micro_bert(len(words), "F32")
    put(t, "bert-vocab-txt", record("config.json", cfg) + record("model.safetensors", st_file(tens, {"format": "pt"})) +
        record("vocab.txt", "\n".join(words) + "\n") +
        record("tokenizer_config.json", '{"do_lower_case": true, "tokenizer_class": "BertTokenizer"}'))
    # F16 weights in two shards with their index, and the cut-down BERT tokenizer.json (300 entries)
    cfg, tens = micro_bert(300, "F16")
    half = len(tens) // 2
    index = {"metadata": {"total_size": 0},
             "weight_map": {n: MD_NAMES[3] if i < half else MD_NAMES[4] for i, (n, _, _, _) in enumerate(tens)}}
    tok = dump(cut_tokenizer("bert-seqcls-tiny", 300))
    put(t, "bert-sharded-f16", record("config.json", cfg) + record("model.safetensors.index.json", json.dumps(index)) +
        record(MD_NAMES[3], st_file(tens[:half])) + record(MD_NAMES[4], st_file(tens[half:])) + record("tokenizer.json", tok))
    cfg, tens, tok = micro_qwen3()
    put(t, "qwen3-f16", record("config.json", cfg) + record("model.safetensors", st_file(tens)) + record("tokenizer.json", tok))


# ---- PEFT LoRA adapter directories for fuzz_adapter_dir: the first byte picks the base (% 3: 0 qwen3-causal-tiny,
# 1 gemma-causal-tiny-bf16, 2 minicpm-layerwise-tiny) and the dtype (/ 3 % 3: f32, bf16, int8), then records [file index][u16
# length][content] of adapter_config.json (0) and adapter_model.safetensors (1). Tensor names, shapes and config
# keys as rerank_train (src/train/train_decoder_save.c) and PEFT write them; rank 1-2 keeps each seed ~1-3 KB ----
AD_BASES = ["qwen3-causal-tiny", "gemma-causal-tiny-bf16", "minicpm-layerwise-tiny"]
AD_NAMES = ["adapter_config.json", "adapter_model.safetensors"]


def ad_record(name, blob):
    if isinstance(blob, str):
        blob = blob.encode()
    assert len(blob) < 65536
    return bytes([AD_NAMES.index(name)]) + struct.pack("<H", len(blob)) + blob


def ad_config(base, r, alpha, targets, save=None, **edit):
    """adapter_config.json with the keys rerank_train writes (LoraConfig's), `edit` overriding some."""
    c = {"alpha_pattern": {}, "auto_mapping": None, "base_model_name_or_path": "tiny/" + base, "bias": "none",
         "fan_in_fan_out": False, "inference_mode": True, "init_lora_weights": True, "layers_pattern": None,
         "layers_to_transform": None, "lora_alpha": alpha, "lora_dropout": 0.0, "modules_to_save": save,
         "peft_type": "LORA", "r": r, "rank_pattern": {}, "revision": None, "target_modules": targets,
         "task_type": "CAUSAL_LM", "use_dora": False, "use_rslora": False}
    c.update(edit)
    return dump(c)


def ad_tensor(name, dtype, shape, seed):
    n = shape[0] * shape[1]
    vals = [((seed * 7 + k * 5) % 9 - 4) / 32.0 for k in range(n)]
    if dtype == "F16":
        payload = struct.pack("<%de" % n, *vals)
    elif dtype == "BF16":
        payload = b"".join(struct.pack("<f", v)[2:] for v in vals)  # exact: these values fit in bf16
    else:
        payload = struct.pack("<%df" % n, *vals)
    return (name, dtype, shape, payload)


def ad_lora(base, modules, r, dtype, layers=(0, 1)):
    """lora_A [r, in] and lora_B [out, r] of model.layers.L.<module> for each module, shapes from the base."""
    b = open(data(base + "/model.safetensors"), "rb").read()
    hdr = json.loads(b[8:8 + struct.unpack("<Q", b[:8])[0]])
    tens = []
    for layer in layers:
        for mod in modules:
            out, inp = hdr["model.layers.%d.%s.weight" % (layer, mod)]["shape"]
            pre = "base_model.model.model.layers.%d.%s." % (layer, mod)
            tens.append(ad_tensor(pre + "lora_A.weight", dtype, [r, inp], len(tens)))
            tens.append(ad_tensor(pre + "lora_B.weight", dtype, [out, r], len(tens)))
    return tens


def adapter_dirs():
    t = "fuzz_adapter_dir"
    q = AD_BASES[0]
    st = ad_lora(q, ["self_attn.q_proj"], 1, "F32")
    put(t, "qwen3-f32-q", bytes([0]) + ad_record("adapter_config.json", ad_config(q, 1, 2, ["q_proj"])) +
        ad_record("adapter_model.safetensors", st_file(st)))
    # F16 tensors, target_modules as one string (PEFT's regex form), an alpha that is not an integer
    st = ad_lora(q, ["self_attn.v_proj", "mlp.down_proj"], 1, "F16", layers=(1,))
    put(t, "qwen3-f16-regex", bytes([0]) +
        ad_record("adapter_config.json", ad_config(q, 1, 1.5, r".*\.(v_proj|down_proj)")) +
        ad_record("adapter_model.safetensors", st_file(st, {"format": "pt"})))
    g = AD_BASES[1]
    st = ad_lora(g, ["self_attn.k_proj", "self_attn.o_proj"], 2, "BF16", layers=(0,))
    put(t, "gemma-bf16-ko", bytes([1 + 3]) +  # computed in bf16
        ad_record("adapter_config.json", ad_config(g, 2, 4, ["k_proj", "o_proj"])) +
        ad_record("adapter_model.safetensors", st_file(st)))
    # the layerwise model with its trained heads saved whole (modules_to_save, as rerank_train --lora-train-heads)
    mc = AD_BASES[2]
    st = ad_lora(mc, ["self_attn.q_proj"], 1, "F32", layers=(0,))
    st += [ad_tensor("base_model.model.lm_head.%d.linear_head.weight" % i, "F32", [1, 64], 9 + i) for i in range(3)]
    put(t, "minicpm-heads", bytes([2 + 6]) +  # computed in int8
        ad_record("adapter_config.json", ad_config(mc, 1, 2, ["q_proj"], save=["linear_head"])) +
        ad_record("adapter_model.safetensors", st_file(st)))
    # near misses: r that is not the tensors', a target module the base does not have, a LoRA variant
    st = ad_lora(q, ["self_attn.q_proj"], 1, "F32", layers=(0,))
    put(t, "qwen3-wrong-rank", bytes([0]) + ad_record("adapter_config.json", ad_config(q, 2, 2, ["q_proj"])) +
        ad_record("adapter_model.safetensors", st_file(st)))
    put(t, "qwen3-unknown-target", bytes([0]) + ad_record("adapter_config.json", ad_config(q, 1, 2, ["qkv_proj"])) +
        ad_record("adapter_model.safetensors", st_file(st)))
    put(t, "qwen3-dora", bytes([0]) + ad_record("adapter_config.json", ad_config(q, 1, 2, ["q_proj"], use_dora=True)) +
        ad_record("adapter_model.safetensors", st_file(st)))
    st = ad_lora(mc, ["self_attn.q_proj"], 1, "F32", layers=(0,)) + [ad_tensor("base_model.model.lm_head.0.linear_head.weight", "F32", [1, 64], 1)]
    put(t, "minicpm-head-not-saved", bytes([2]) + ad_record("adapter_config.json", ad_config(mc, 1, 2, ["q_proj"])) +
        ad_record("adapter_model.safetensors", st_file(st)))


if __name__ == "__main__":
    configs()
    tokenizers()
    spm_models()
    safetensors()
    http()
    texts()
    train_rows()
    model_dirs()
    adapter_dirs()
    dictionaries()
