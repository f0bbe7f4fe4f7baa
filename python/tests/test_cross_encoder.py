"""sentence-transformers CrossEncoder drop-in: longest-first truncation at the model's limit (golden
longest_first_* rows, Rust tokenizers' split), predict's float32 return types, rank, the activation."""
import json
import os

import numpy as np
import pytest

from conftest import golden, model_dir
from rerank import CrossEncoder, FlagReranker
from rerank.cross_encoder import _longest_first

TOL = 1e-4


@pytest.mark.parametrize("name", ["xlmr-seqcls-tiny", "bert-seqcls-tiny"])
@pytest.mark.parametrize("max_length", [64, 512])
def test_predict_matches_longest_first_goldens(name, max_length):
    rows = golden(name, max_length=max_length)
    pairs = [(r["query"], r["passage"]) for r in rows]
    model = CrossEncoder(model_dir(name), max_length=max_length)
    probs = model.predict(pairs, batch_size=5)
    logits = model.predict(pairs, activation_fn="torch.nn.modules.linear.Identity")
    assert isinstance(probs, np.ndarray) and probs.dtype == np.float32 and probs.shape == (len(rows),)
    for p, lo, r in zip(probs, logits, rows):
        assert abs(lo - r["longest_first_logits"][0]) <= TOL, r["case"]
        assert abs(p - r["longest_first_score"]) <= TOL, r["case"]
    # where longest-first and FlagEmbedding's query budget cut differently, the scores differ too
    flag = FlagReranker(model_dir(name), max_length=max_length).compute_score(pairs)
    differs = [r["case"] for r in rows if r["longest_first_input_ids"] != r["input_ids"]]
    if max_length == 64:
        assert differs, "the goldens exercise a longest-first cut"
    for lo, f, r in zip(logits, flag, rows):
        if r["case"] not in differs:
            assert lo == np.float32(f)


def test_default_limit_is_the_tokenizers_model_max_length():
    d = model_dir("bert-seqcls-tiny")
    with open(os.path.join(d, "tokenizer_config.json")) as f:
        assert CrossEncoder(d).max_length == min(json.load(f)["model_max_length"], 512)


def test_longest_first_split_is_rust_tokenizers_rule():
    # the cases of tokenizers' truncate_encodings_longest_first test, budget 7
    cases = [((0, 0), (0, 0)), ((0, 8), (0, 7)), ((2, 8), (2, 5)), ((4, 4), (3, 4)), ((4, 8), (3, 4)),
             ((8, 2), (5, 2)), ((8, 4), (4, 3)), ((8, 8), (3, 4)), ((2, 4), (2, 4))]
    for (q, p), want in cases:
        assert _longest_first(q, p, 7) == want, (q, p)


def test_predict_return_types():
    model = CrossEncoder(model_dir("bert-seqcls-tiny"))
    one = model.predict(("what is panda?", "hi"))
    assert isinstance(one, np.float32)
    many = model.predict([("what is panda?", "hi"), ("what is panda?", "a bear")])
    assert many.dtype == np.float32 and many[0] == one
    as_list = model.predict([("what is panda?", "hi")], convert_to_numpy=False)
    assert isinstance(as_list, list) and as_list[0] == float(one)
    assert model.predict([]).shape == (0,)


def test_rank_orders_best_first_with_ids_and_texts():
    model = CrossEncoder(model_dir("xlmr-seqcls-tiny"))
    docs = [r["passage"] for r in golden("xlmr-seqcls-tiny", max_length=512)][:8]
    query = "what is panda?"
    scores = model.predict([(query, d) for d in docs])
    ranked = model.rank(query, docs, return_documents=True)
    assert [r["corpus_id"] for r in ranked] == sorted(range(len(docs)), key=lambda i: -scores[i])
    assert all(r["text"] == docs[r["corpus_id"]] and r["score"] == scores[r["corpus_id"]] for r in ranked)
    top = model.rank(query, docs, top_k=3)
    assert [r["corpus_id"] for r in top] == [r["corpus_id"] for r in ranked[:3]] and "text" not in top[0]


def test_activation_from_config(tmp_path):
    src = model_dir("xlmr-seqcls-tiny")
    for f in os.listdir(src):
        if f != "config.json":
            os.symlink(os.path.join(src, f), tmp_path / f)
    with open(os.path.join(src, "config.json")) as f:
        config = json.load(f)
    config["sentence_transformers"] = {"activation_fn": "torch.nn.modules.linear.Identity", "version": "5.0.0"}
    (tmp_path / "config.json").write_text(json.dumps(config))
    pairs = [("what is panda?", "hi"), ("a", "b")]
    raw = CrossEncoder(str(tmp_path)).predict(pairs)
    sig = CrossEncoder(src).predict(pairs)
    assert np.allclose(1 / (1 + np.exp(-raw.astype(np.float64))), sig, atol=1e-6)
    assert not np.allclose(raw, sig)
    doubled = CrossEncoder(src).predict(pairs, activation_fn=lambda x: x * 2)
    assert np.array_equal(doubled, raw * 2)
