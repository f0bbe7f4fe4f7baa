"""cross_encoder.py - a drop-in for sentence-transformers (v5) CrossEncoder.predict / rank over librerank.

sentence-transformers tokenizes a pair with truncation="longest_first" at the model's limit (the tokenizer's
model_max_length, or max_length=): no query budget, the longer side loses tokens first. The engine truncates
as FlagEmbedding does (query budget, then the passage's tail), so each pair gets the budgets that reproduce
longest-first: both lengths come from rerank_tokenize, the split follows Hugging Face tokenizers' rule, and
pairs with equal budgets are scored in one call.
"""
import json
import os

from . import _native
from .flag import _as_pairs

try:
    import numpy as np
except ImportError:  # numpy is optional: lists and floats instead of arrays
    np = None

_HUGE = 1 << 20  # a query budget that never cuts: rerank_tokenize then reports the whole length


def _longest_first(n_query, n_passage, budget):
    """Hugging Face tokenizers' LongestFirst split of `budget` tokens (special tokens excluded)."""
    if n_query + n_passage <= budget:
        return n_query, n_passage
    n1, n2, swap = n_query, n_passage, False
    if n1 > n2:  # n1: the shorter side; on a tie the query is "shorter" and gets the smaller half
        n1, n2, swap = n2, n1, True
    n2 = n1 if n1 > budget else max(n1, budget - n1)
    if n1 + n2 > budget:
        n1 = budget // 2
        n2 = n1 + budget % 2
    if swap:
        n1, n2 = n2, n1
    return min(n_query, n1), min(n_passage, n2)


def _activation_name(fn):
    if fn is None:
        return None
    name = fn if isinstance(fn, str) else type(fn).__name__
    if name in ("type", "function"):
        name = getattr(fn, "__name__", name)
    return name.rsplit(".", 1)[-1]


class CrossEncoder:
    """sentence-transformers' CrossEncoder for one-label rerankers (BERT / XLM-R cross-encoders)."""

    def __init__(self, model_name_or_path, num_labels=None, max_length=None, activation_fn=None, device=None,
                 cache_folder=None, trust_remote_code=False, revision=None, local_files_only=False, token=None,
                 model_kwargs=None, tokenizer_kwargs=None, config_kwargs=None, model_card_data=None,
                 backend="torch", dtype="auto", n_threads=0, **kwargs):
        if num_labels not in (None, 1):
            raise ValueError("num_labels=%r: rerank scores one-label rerankers only" % (num_labels,))
        self.model_name_or_path = model_name_or_path
        self.model = _native.Model(model_name_or_path, dtype=dtype)
        if self.model.kind != _native.KIND_CROSS_ENCODER:
            raise ValueError("%s: %s is not a cross-encoder; use FlagLLMReranker, LayerWiseFlagLLMReranker or "
                             "Qwen3Reranker" % (model_name_or_path, self.model.architecture))
        self.num_labels = 1
        self.n_threads = n_threads
        config = self._read_json("config.json")
        limit = max_length
        if limit is None:
            limit = self._read_json("tokenizer_config.json").get("model_max_length")
            if not isinstance(limit, int) or limit > 10 ** 9:  # transformers' "no limit" sentinel
                limit = None
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit <= 0):
            raise ValueError("max_length must be a positive int, got %r" % (limit,))
        self.max_length = min(limit, self.model.max_tokens) if limit else self.model.max_tokens
        if activation_fn is None:
            st = config.get("sentence_transformers") or {}
            activation_fn = st.get("activation_fn") or config.get("sbert_ce_default_activation_function") \
                or "torch.nn.modules.activation.Sigmoid"
        self.activation_fn = activation_fn
        sp = _native.default_score_params()
        self._n_special = self.model.n_tokens(b"", b"", sp)
        self._budget = self.max_length - self._n_special
        # a text's whole length: the text as the query of a pair with an empty passage and no query budget
        self._probe = _native.default_score_params()
        self._probe.max_length = self._probe.query_max_length = _HUGE
        if self._budget < 0:
            raise ValueError("max_length %d leaves no room beside the %d special tokens"
                             % (self.max_length, self._n_special))

    def _read_json(self, name):
        try:
            with open(os.path.join(self.model_name_or_path, name), encoding="utf-8") as f:
                v = json.load(f)
            return v if isinstance(v, dict) else {}
        except (OSError, ValueError):
            return {}

    # ---------------------------------------------------------------------------------------------------
    def _lengths(self, text, cache):
        n = cache.get(text)
        if n is None:
            n = cache[text] = self.model.n_tokens(text, b"", self._probe) - self._n_special
        return n

    def _raw_scores(self, pairs, batch_size, normalize):
        """Float32 logits (or sigmoids) of (query bytes, passage bytes) pairs, in input order."""
        groups = {}  # (query budget, total budget) -> indices
        cache = {}
        for i, (q, p) in enumerate(pairs):
            nq, npass = self._lengths(q, cache), self._lengths(p, cache)
            tq, tp = _longest_first(nq, npass, self._budget)
            key = (self.max_length, self.max_length) if (tq, tp) == (nq, npass) else (max(tq, 1),
                                                                                     tq + tp + self._n_special)
            groups.setdefault(key, []).append(i)
        out = [0.0] * len(pairs)
        for (qml, ml), idx in groups.items():
            sp = _native.default_score_params()
            sp.max_length, sp.query_max_length = ml, qml
            sp.batch_size = batch_size
            sp.normalize = normalize
            sp.n_threads = self.n_threads
            scores, _ = self.model.score([pairs[i] for i in idx], sp, n_out=1)
            for i, s in zip(idx, scores):
                out[i] = s
        return out

    def predict(self, sentences, batch_size=32, show_progress_bar=None, activation_fn=None, apply_softmax=False,
                convert_to_numpy=True, convert_to_tensor=False):
        singular = bool(sentences) and isinstance(sentences, (list, tuple)) and isinstance(sentences[0], str)
        pairs = _as_pairs(sentences)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
            raise ValueError("batch_size must be a positive int, got %r" % (batch_size,))
        texts = []
        for i, (q, p) in enumerate(pairs):
            texts.append((_native.encode_text(q, "pair %d: query" % i), _native.encode_text(p, "pair %d: passage" % i)))
        fn = activation_fn if activation_fn is not None else self.activation_fn
        name = _activation_name(fn)
        sigmoid = name == "Sigmoid"
        scores = self._raw_scores(texts, batch_size, sigmoid) if texts else []
        if not sigmoid and name != "Identity":
            if not callable(fn):
                raise ValueError("activation_fn %r: only Sigmoid, Identity or a callable on a float32 array" % (fn,))
            scores = fn(np.asarray(scores, dtype=np.float32) if np is not None else scores)
        # apply_softmax acts on several labels only; one-label scores are left as they are (as upstream)
        if convert_to_tensor:
            try:
                import torch
            except ImportError:
                raise ValueError("convert_to_tensor=True needs PyTorch; rerank returns numpy arrays") from None
            result = torch.tensor([float(s) for s in scores], dtype=torch.float32)
            return result[0] if singular else result
        if np is not None and convert_to_numpy:
            result = np.asarray(scores, dtype=np.float32)
        else:
            result = [float(s) for s in scores]
        return result[0] if singular else result

    def rank(self, query, documents, top_k=None, return_documents=False, batch_size=32, show_progress_bar=None,
             activation_fn=None, apply_softmax=False, convert_to_numpy=True, convert_to_tensor=False):
        if not isinstance(query, str):
            raise TypeError("query must be a str, got %s" % type(query).__name__)
        if isinstance(documents, str):
            raise TypeError("documents must be a list of str, got a str")
        documents = list(documents)
        scores = self.predict([[query, d] for d in documents], batch_size=batch_size, activation_fn=activation_fn,
                              apply_softmax=apply_softmax, convert_to_numpy=convert_to_numpy)
        results = []
        for i, s in enumerate(scores):
            r = {"corpus_id": i, "score": s}
            if return_documents:
                r["text"] = documents[i]
            results.append(r)
        results.sort(key=lambda r: r["score"], reverse=True)  # stable: ties keep input order
        return results[:top_k]

    def __repr__(self):
        return "CrossEncoder(%r, max_length=%d)" % (self.model_name_or_path, self.max_length)
