"""flag.py - drop-ins for FlagEmbedding >= 1.3's rerankers (FlagReranker, FlagLLMReranker,
LayerWiseFlagLLMReranker, FlagAutoReranker) and a Qwen3-Reranker class, over librerank.

Constructor and compute_score signatures, defaults and return types follow FlagEmbedding (see
../shared/docs/flagembedding-spec.md section 1): compute_score returns a list of floats in input order (one
float in a list for a single pair), a layerwise call with several cutoff layers a list per layer, ascending.
Arguments that only matter on a GPU are accepted and have no effect (README, "Python").
"""
import os
import warnings

from . import _native

_LLM_QUERY_PREFIX, _LLM_PASSAGE_PREFIX = "A: ", "B: "
_SCORE_KWARGS = {"batch_size", "query_max_length", "max_length", "normalize", "prompt", "cutoff_layers",
                 "n_threads", "instruction", "device", "devices", "use_dataloader", "num_workers"}


def _as_pairs(sentence_pairs):
    """FlagEmbedding's input rule: one (query, passage) pair or a list of them -> a list of pairs."""
    if isinstance(sentence_pairs, str):
        raise TypeError("compute_score expects a (query, passage) pair or a list of pairs, got a str")
    try:
        n = len(sentence_pairs)
    except TypeError:
        raise TypeError("compute_score expects a (query, passage) pair or a list of pairs, got %s"
                        % type(sentence_pairs).__name__) from None
    if n == 0:
        return []
    if isinstance(sentence_pairs[0], str):
        sentence_pairs = [sentence_pairs]
    pairs = []
    for i, pair in enumerate(sentence_pairs):
        if isinstance(pair, str) or not hasattr(pair, "__len__") or len(pair) != 2:
            raise TypeError("pair %d: expected a (query, passage) pair of str, got %r" % (i, type(pair).__name__))
        pairs.append((pair[0], pair[1]))
    return pairs


def _dtype_for(use_bf16, dtype):
    """use_bf16 maps to bf16 compute (as FlagEmbedding loads bf16 weights; every CPU runs it); use_fp16 is
    GPU-only there."""
    if dtype is not None:
        return dtype
    return "bf16" if use_bf16 else "auto"


class _Reranker:
    """What every FlagEmbedding reranker shares: instance defaults that compute_score kwargs override."""

    _kinds = ()
    _recipe = None

    def __init__(self, model_name_or_path, use_fp16=False, query_instruction_for_rerank=None,
                 query_instruction_format="{}{}", passage_instruction_for_rerank=None,
                 passage_instruction_format="{}{}", devices=None, batch_size=128, query_max_length=None,
                 max_length=512, normalize=False, use_bf16=False, dtype=None, n_threads=0, **kwargs):
        self.model_name_or_path = model_name_or_path
        self.use_fp16 = False  # FlagEmbedding turns it off on CPU
        self.use_bf16 = use_bf16
        self.query_instruction_for_rerank = query_instruction_for_rerank
        self.query_instruction_format = query_instruction_format
        self.passage_instruction_for_rerank = passage_instruction_for_rerank
        self.passage_instruction_format = passage_instruction_format
        self.target_devices = ["cpu"]
        self.batch_size = batch_size
        self.query_max_length = query_max_length
        self.max_length = max_length
        self.normalize = normalize
        self.n_threads = n_threads
        for k, v in kwargs.items():  # FlagEmbedding keeps unknown kwargs as attributes (and ignores them)
            setattr(self, k, v)
        self.kwargs = kwargs
        self.model = _native.Model(model_name_or_path, dtype=_dtype_for(use_bf16, dtype), recipe=self._recipe)
        if self.model.kind not in self._kinds:
            raise ValueError("%s: %s is a %s model; use %s" % (
                model_name_or_path, self.model.architecture, _KIND_NAMES[self.model.kind],
                _CLASS_FOR_KIND[self.model.kind]))

    # --- input texts ---------------------------------------------------------------------------------
    def _texts(self, pairs):
        """(query, passage) str pairs -> the UTF-8 bytes the engine gets, after the instruction formats."""
        if self._plain_texts():
            try:  # the common case in one comprehension: it is most of the Python-side cost of a call
                return [(q.encode("utf-8", "surrogatepass"), p.encode("utf-8", "surrogatepass")) for q, p in pairs]
            except AttributeError:
                pass  # not a str somewhere: the loop below names the pair
        qi, qf = self.query_instruction_for_rerank, self.query_instruction_format
        pi, pf = self.passage_instruction_for_rerank, self.passage_instruction_format
        out = []
        for i, (q, p) in enumerate(pairs):
            if not isinstance(q, str) or not isinstance(p, str):
                bad = "query" if not isinstance(q, str) else "passage"
                raise TypeError("pair %d: %s must be a str, got %s" % (i, bad, type(q if bad == "query" else p).__name__))
            if qi is not None:
                q = qf.replace("\\n", "\n").format(qi, q)
            if pi is not None:
                p = pf.replace("\\n", "\n").format(pi, p)
            out.append(self._strip_engine_prefix(i, q, p))
        return out

    def _plain_texts(self):
        """True when the texts reach the engine unchanged (no instruction, or the one the engine adds)."""
        return self.query_instruction_for_rerank is None and self.passage_instruction_for_rerank is None

    def _strip_engine_prefix(self, i, q, p):
        return _native.encode_text(q, "query"), _native.encode_text(p, "passage")

    # --- scoring -------------------------------------------------------------------------------------
    def _params(self, kw):
        unknown = set(kw) - _SCORE_KWARGS
        if unknown:
            warnings.warn("rerank: compute_score ignores %s" % ", ".join(sorted(unknown)), stacklevel=3)
        sp = _native.default_score_params()
        get = lambda k, default: kw[k] if kw.get(k) is not None else default  # noqa: E731
        max_length = get("max_length", self.max_length)
        qml = get("query_max_length", self.query_max_length)
        batch = get("batch_size", self.batch_size)
        threads = get("n_threads", self.n_threads)
        for name, v in (("max_length", max_length), ("batch_size", batch), ("n_threads", threads)) + (
                (("query_max_length", qml),) if qml is not None else ()):
            if isinstance(v, bool) or not isinstance(v, int):
                raise TypeError("%s must be an int, got %s" % (name, type(v).__name__))
            if not 0 <= v < 2 ** 31:
                raise ValueError("%s must be in [0, 2^31), got %d" % (name, v))
        sp.max_length = max_length
        sp.query_max_length = qml or 0
        sp.batch_size = batch
        sp.n_threads = threads
        sp.normalize = bool(get("normalize", self.normalize))
        keep = []
        self._extra_params(sp, kw, keep)
        return sp, keep

    def _extra_params(self, sp, kw, keep):
        pass

    def compute_score(self, sentence_pairs, **kwargs):
        pairs = _as_pairs(sentence_pairs)
        sp, _keep = self._params(kwargs)
        if not pairs:
            return []
        scores, n_out = self.model.score(self._texts(pairs), sp, n_out=None if sp.n_cutoff_layers > 1 else 1)
        return self._shape(scores, n_out, len(pairs))

    def _shape(self, scores, n_out, n):
        return list(scores)

    def __repr__(self):
        return "%s(%r)" % (type(self).__name__, self.model_name_or_path)


class FlagReranker(_Reranker):
    """FlagEmbedding's encoder reranker (bge-reranker-base/-large/-v2-m3, BERT cross-encoders)."""

    _kinds = (_native.KIND_CROSS_ENCODER,)

    def __init__(self, model_name_or_path, use_fp16=False, query_instruction_for_rerank=None,
                 query_instruction_format="{}{}", passage_instruction_for_rerank=None,
                 passage_instruction_format="{}{}", trust_remote_code=False, cache_dir=None, devices=None,
                 batch_size=128, query_max_length=None, max_length=512, normalize=False, **kwargs):
        use_bf16 = kwargs.pop("use_bf16", None)  # not an argument of FlagEmbedding's encoder class: ignored there
        super().__init__(model_name_or_path, use_fp16, query_instruction_for_rerank, query_instruction_format,
                         passage_instruction_for_rerank, passage_instruction_format, devices, batch_size,
                         query_max_length, max_length, normalize, **kwargs)
        self.use_bf16 = use_bf16


class FlagLLMReranker(_Reranker):
    """FlagEmbedding's decoder reranker (bge-reranker-v2-gemma): the "Yes" logit after FlagEmbedding's
    "A: {query}\\nB: {passage}\\n{prompt}" layout, for any supported decoder (a Qwen3 checkpoint included)."""

    _kinds = (_native.KIND_LLM, _native.KIND_QWEN3)  # the kind says the architecture; the recipe decides
    _recipe = "flag-llm"

    def __init__(self, model_name_or_path, peft_path=None, use_fp16=False, use_bf16=False,
                 query_instruction_for_rerank="A: ", query_instruction_format="{}{}",
                 passage_instruction_for_rerank="B: ", passage_instruction_format="{}{}", cache_dir=None,
                 trust_remote_code=False, devices=None, prompt=None, batch_size=128, query_max_length=None,
                 max_length=512, normalize=False, **kwargs):
        if peft_path:
            raise ValueError("peft_path: merge the adapter first (`rerank merge-lora --adapter %s`) and load the "
                             "merged model" % peft_path)
        self.prompt = prompt
        super().__init__(model_name_or_path, use_fp16, query_instruction_for_rerank, query_instruction_format,
                         passage_instruction_for_rerank, passage_instruction_format, devices, batch_size,
                         query_max_length, max_length, normalize, use_bf16=use_bf16, **kwargs)

    def _plain_texts(self):
        return (self.query_instruction_for_rerank == _LLM_QUERY_PREFIX and self.query_instruction_format == "{}{}"
                and self.passage_instruction_for_rerank == _LLM_PASSAGE_PREFIX
                and self.passage_instruction_format == "{}{}")

    def _strip_engine_prefix(self, i, q, p):
        # the engine writes FlagEmbedding's "A: " / "B: " itself; any other instruction cannot be expressed
        for name, text, prefix in (("query", q, _LLM_QUERY_PREFIX), ("passage", p, _LLM_PASSAGE_PREFIX)):
            if not text.startswith(prefix):
                raise ValueError("pair %d: the %s instruction must format to %r + text for this engine, got %r"
                                 % (i, name, prefix, text[:40]))
        return (_native.encode_text(q[len(_LLM_QUERY_PREFIX):], "query"),
                _native.encode_text(p[len(_LLM_PASSAGE_PREFIX):], "passage"))

    def _extra_params(self, sp, kw, keep):
        prompt = kw.get("prompt") if kw.get("prompt") is not None else self.prompt
        if prompt is not None:
            b = _native.encode_text(prompt, "prompt")
            keep.append(b)
            sp.prompt = b


class LayerWiseFlagLLMReranker(FlagLLMReranker):
    """bge-reranker-v2-minicpm-layerwise: one score per cutoff layer (default: the last layer)."""

    _kinds = (_native.KIND_LAYERWISE,)
    _recipe = None

    def __init__(self, model_name_or_path, peft_path=None, use_fp16=False, use_bf16=False,
                 query_instruction_for_rerank="A: ", query_instruction_format="{}{}",
                 passage_instruction_for_rerank="B: ", passage_instruction_format="{}{}", cache_dir=None,
                 trust_remote_code=False, devices=None, cutoff_layers=None, prompt=None, batch_size=128,
                 query_max_length=None, max_length=512, normalize=False, **kwargs):
        self.cutoff_layers = cutoff_layers
        super().__init__(model_name_or_path, peft_path, use_fp16, use_bf16, query_instruction_for_rerank,
                         query_instruction_format, passage_instruction_for_rerank, passage_instruction_format,
                         cache_dir, trust_remote_code, devices, prompt, batch_size, query_max_length, max_length,
                         normalize, **kwargs)

    def _extra_params(self, sp, kw, keep):
        super()._extra_params(sp, kw, keep)
        layers = kw.get("cutoff_layers") if kw.get("cutoff_layers") is not None else self.cutoff_layers
        if layers is None:
            return
        if isinstance(layers, int) and not isinstance(layers, bool):
            layers = [layers]
        if not isinstance(layers, (list, tuple)) or not layers or \
                any(isinstance(x, bool) or not isinstance(x, int) for x in layers):
            raise TypeError("cutoff_layers must be an int or a non-empty list of ints, got %r" % (layers,))
        if any(not 0 <= x < 2 ** 31 for x in layers):
            raise ValueError("cutoff_layers must be in [0, 2^31), got %r" % (layers,))
        arr = (_native.ctypes.c_int * len(layers))(*layers)
        keep.append(arr)
        sp.cutoff_layers = arr
        sp.n_cutoff_layers = len(layers)

    def _shape(self, scores, n_out, n):
        if n_out == 1:
            return list(scores)
        flat = list(scores)
        return [flat[k::n_out] for k in range(n_out)]  # one list per layer, ascending layers


class Qwen3Reranker(_Reranker):
    """Qwen3-Reranker with its model card's recipe: P("yes") over {"yes", "no"} after
    "<Instruct>: {instruction}\\n<Query>: {query}\\n<Document>: {doc}" in the chat frame. compute_score returns
    that probability (normalize=True, the default) or its log-odds (normalize=False)."""

    _kinds = (_native.KIND_QWEN3, _native.KIND_LLM)
    _recipe = "qwen3"

    def __init__(self, model_name_or_path, instruction=None, use_fp16=False, use_bf16=False, devices=None,
                 batch_size=128, max_length=8192, normalize=True, **kwargs):
        self.instruction = instruction
        super().__init__(model_name_or_path, use_fp16, None, "{}{}", None, "{}{}", devices, batch_size, None,
                         max_length, normalize, use_bf16=use_bf16, **kwargs)

    def _extra_params(self, sp, kw, keep):
        instr = kw.get("instruction") if kw.get("instruction") is not None else self.instruction
        if instr is not None:
            b = _native.encode_text(instr, "instruction")
            keep.append(b)
            sp.instruction = b


_KIND_NAMES = {_native.KIND_CROSS_ENCODER: "cross-encoder", _native.KIND_LLM: "decoder LLM reranker",
               _native.KIND_LAYERWISE: "layerwise LLM reranker", _native.KIND_QWEN3: "Qwen3-Reranker"}
_CLASS_FOR_KIND = {_native.KIND_CROSS_ENCODER: "FlagReranker or CrossEncoder", _native.KIND_LLM: "FlagLLMReranker",
                   _native.KIND_LAYERWISE: "LayerWiseFlagLLMReranker",
                   _native.KIND_QWEN3: "Qwen3Reranker (or FlagLLMReranker for FlagEmbedding's layout)"}

# FlagEmbedding's AUTO_RERANKER_MAPPING (model_mapping.py), keyed by the folder / repo name; plus Qwen3
_AUTO = {
    "bge-reranker-base": FlagReranker, "bge-reranker-large": FlagReranker, "bge-reranker-v2-m3": FlagReranker,
    "bge-reranker-v2-gemma": FlagLLMReranker, "bge-reranker-v2-minicpm-layerwise": LayerWiseFlagLLMReranker,
    "jina-reranker-v2-base-multilingual": FlagReranker, "gte-multilingual-reranker-base": FlagReranker,
    "bce-reranker-base_v1": FlagReranker, "jina-reranker-v1-turbo-en": FlagReranker,
    "Qwen3-Reranker-0.6B": Qwen3Reranker, "Qwen3-Reranker-4B": Qwen3Reranker, "Qwen3-Reranker-8B": Qwen3Reranker,
}
_MODEL_CLASSES = {"encoder-only-base": FlagReranker, "decoder-only-base": FlagLLMReranker,
                  "decoder-only-layerwise": LayerWiseFlagLLMReranker, "qwen3": Qwen3Reranker}


class FlagAutoReranker:
    """Picks the reranker class from the model's folder name as FlagEmbedding does; model_class overrides."""

    def __init__(self):
        raise EnvironmentError("FlagAutoReranker is designed to be instantiated using the "
                               "`FlagAutoReranker.from_finetuned(model_name_or_path)` method.")

    @classmethod
    def from_finetuned(cls, model_name_or_path, model_class=None, use_fp16=False, trust_remote_code=None,
                       **kwargs):
        path = os.fspath(model_name_or_path)
        name = os.path.basename(os.path.normpath(path))
        if name.startswith("checkpoint-"):
            name = os.path.basename(os.path.dirname(os.path.normpath(path)))
        if model_class is not None:
            key = getattr(model_class, "value", model_class)
            if key not in _MODEL_CLASSES:
                raise ValueError("model_class must be one of %s, got %r" % (", ".join(_MODEL_CLASSES), key))
            klass = _MODEL_CLASSES[key]
        elif name in _AUTO:
            klass = _AUTO[name]
        else:
            raise ValueError("Model name '%s' not found in the model mapping; pass model_class= (one of %s)"
                             % (name, ", ".join(_MODEL_CLASSES)))
        return klass(path, use_fp16=use_fp16, **kwargs)
