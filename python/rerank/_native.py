"""_native.py - ctypes binding of librerank's public API (include/rerank.h) and nothing else.

ctypes (not a C extension) because it needs no Python headers to build, one shared library serves every
CPython >= 3.9, and a CDLL call releases the GIL for its whole duration, so threads score in parallel.
A model is shared by all threads; each thread gets its own rerank_session (rerank.h's thread-safety rule).
"""
import ctypes
import os
import threading

# rerank_status (rerank.h), in order
OK, INVALID_ARGUMENT, IO, FORMAT, UNSUPPORTED, INPUT, NOMEM, INTERNAL = range(8)

KIND_CROSS_ENCODER, KIND_LLM, KIND_LAYERWISE, KIND_QWEN3 = range(4)
DTYPES = {"auto": 0, "f32": 1, "fp32": 1, "float32": 1, "bf16": 2, "bfloat16": 2, "int8": 3}
LONG_DOC = {"truncate": 0, "chunk": 1}


class _Error(ctypes.Structure):
    _fields_ = [("status", ctypes.c_int), ("message", ctypes.c_char * 512)]


class _ModelParams(ctypes.Structure):
    _fields_ = [("dtype", ctypes.c_int), ("recipe", ctypes.c_char_p)]


class _ModelInfo(ctypes.Structure):
    _fields_ = [("kind", ctypes.c_int), ("architecture", ctypes.c_char_p), ("n_layers", ctypes.c_int),
                ("hidden_size", ctypes.c_int), ("vocab_size", ctypes.c_int), ("max_tokens", ctypes.c_int)]


class _Pair(ctypes.Structure):
    _fields_ = [("query", ctypes.c_char_p), ("query_len", ctypes.c_size_t),
                ("passage", ctypes.c_char_p), ("passage_len", ctypes.c_size_t)]


class _ScoreParams(ctypes.Structure):
    _fields_ = [("max_length", ctypes.c_int), ("query_max_length", ctypes.c_int), ("batch_size", ctypes.c_int),
                ("normalize", ctypes.c_bool), ("n_threads", ctypes.c_int), ("long_doc", ctypes.c_int),
                ("chunk_overlap", ctypes.c_int), ("split_special_tokens", ctypes.c_bool),
                ("prompt", ctypes.c_char_p), ("instruction", ctypes.c_char_p),
                ("cutoff_layers", ctypes.POINTER(ctypes.c_int)), ("n_cutoff_layers", ctypes.c_size_t),
                ("prefix_reuse", ctypes.c_bool)]


class _Encoding(ctypes.Structure):
    _fields_ = [("ids", ctypes.POINTER(ctypes.c_int32)), ("type_ids", ctypes.POINTER(ctypes.c_int32)),
                ("n_tokens", ctypes.c_size_t)]


def _find_library():
    """RERANK_LIBRARY, else the librerank.so installed inside this package, else a source tree's build/."""
    env = os.environ.get("RERANK_LIBRARY")
    if env:
        return env
    here = os.path.dirname(os.path.abspath(__file__))
    for path in (os.path.join(here, "librerank.so"),
                 os.path.join(here, "..", "..", "build", "librerank.so")):
        if os.path.exists(path):
            return path
    raise ImportError("rerank: librerank.so not found next to %s (install the package with pip, or set "
                      "RERANK_LIBRARY)" % here)


def _load():
    lib = ctypes.CDLL(_find_library())
    P = ctypes.POINTER
    vp = ctypes.c_void_p
    sigs = {
        "rerank_status_string": (ctypes.c_char_p, [ctypes.c_int]),
        "rerank_model_default_params": (_ModelParams, []),
        "rerank_model_load": (ctypes.c_int, [ctypes.c_char_p, P(_ModelParams), P(vp), P(_Error)]),
        "rerank_model_free": (None, [vp]),
        "rerank_model_get_info": (None, [vp, P(_ModelInfo)]),
        "rerank_score_default_params": (_ScoreParams, []),
        "rerank_session_new": (ctypes.c_int, [vp, P(vp), P(_Error)]),
        "rerank_session_free": (None, [vp]),
        "rerank_score_n_outputs": (ctypes.c_int, [vp, P(_ScoreParams), P(ctypes.c_size_t), P(_Error)]),
        "rerank_score": (ctypes.c_int, [vp, P(_ScoreParams), P(_Pair), ctypes.c_size_t, P(ctypes.c_float),
                                        P(_Error)]),
        "rerank_tokenize": (ctypes.c_int, [vp, P(_ScoreParams), P(_Pair), P(_Encoding), P(_Error)]),
        "rerank_encoding_free": (None, [P(_Encoding)]),
    }
    for name, (res, args) in sigs.items():
        fn = getattr(lib, name)
        fn.restype = res
        fn.argtypes = args
    return lib


_lib = _load()
_DEFAULT_SCORE_PARAMS = bytes(_lib.rerank_score_default_params())


def default_score_params():
    return _ScoreParams.from_buffer_copy(_DEFAULT_SCORE_PARAMS)


def error_from(status, err, model_path=None):
    """The Python exception for a failed call, carrying the engine's one-line message."""
    msg = err.message.decode("utf-8", "replace") or _lib.rerank_status_string(status).decode()
    if status == IO:
        exc = FileNotFoundError(msg) if model_path is not None and not os.path.exists(model_path) else OSError(msg)
    elif status in (FORMAT, UNSUPPORTED) and model_path is not None:
        exc = OSError(msg)          # a model that cannot be loaded, as transformers' from_pretrained raises
    elif status == NOMEM:
        exc = MemoryError(msg)
    elif status == INTERNAL:
        exc = RuntimeError(msg)
    else:                           # INVALID_ARGUMENT, INPUT, or FORMAT/UNSUPPORTED of a call's arguments
        exc = ValueError(msg)
    exc.status = status
    return exc


def encode_text(text, what):
    if not isinstance(text, str):
        raise TypeError("%s must be a str, got %s" % (what, type(text).__name__))
    # lone surrogates pass through so that the engine rejects them with its own message (invalid UTF-8)
    return text.encode("utf-8", "surrogatepass")


class _Handle:
    """Owns the rerank_model; sessions keep it alive, so it is freed after every session (no cycle)."""

    def __init__(self, ptr):
        self.ptr = ptr

    def __del__(self):
        if self.ptr and _lib is not None:
            _lib.rerank_model_free(self.ptr)
            self.ptr = None


class _Session:
    def __init__(self, handle):
        self.handle = handle
        self.ptr = ctypes.c_void_p()
        err = _Error()
        st = _lib.rerank_session_new(handle.ptr, ctypes.byref(self.ptr), ctypes.byref(err))
        if st:
            self.ptr = None
            raise error_from(st, err)

    def __del__(self):
        if self.ptr and _lib is not None:
            _lib.rerank_session_free(self.ptr)
            self.ptr = None


class Model:
    """A loaded model (immutable, shared by threads) with one session per calling thread."""

    def __init__(self, path, dtype="auto", recipe=None):
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError("model_name_or_path must be a str or os.PathLike, got %s" % type(path).__name__)
        path = os.fspath(path)
        if dtype not in DTYPES:
            raise ValueError("dtype must be one of %s, got %r" % (", ".join(sorted(DTYPES)), dtype))
        mp = _lib.rerank_model_default_params()
        mp.dtype = DTYPES[dtype]
        mp.recipe = recipe.encode() if recipe else None
        ptr = ctypes.c_void_p()
        err = _Error()
        st = _lib.rerank_model_load(path.encode(), ctypes.byref(mp), ctypes.byref(ptr), ctypes.byref(err))
        if st:
            raise error_from(st, err, model_path=path)
        self.path = path
        self._handle = _Handle(ptr)
        info = _ModelInfo()
        _lib.rerank_model_get_info(ptr, ctypes.byref(info))
        self.kind = info.kind
        self.architecture = (info.architecture or b"").decode()
        self.n_layers = info.n_layers
        self.max_tokens = info.max_tokens
        self._local = threading.local()

    def _session(self):
        s = getattr(self._local, "session", None)
        if s is None:
            s = self._local.session = _Session(self._handle)
        return s

    def n_outputs(self, params):
        n = ctypes.c_size_t()
        err = _Error()
        st = _lib.rerank_score_n_outputs(self._handle.ptr, ctypes.byref(params), ctypes.byref(n), ctypes.byref(err))
        if st:
            raise error_from(st, err)
        return n.value

    def score(self, pairs, params, n_out=None):
        """pairs: list of (query bytes, passage bytes). Returns (n_pairs * n_out float32s, n_out); n_out may be
        passed when known (1 unless several cutoff layers) to save a call."""
        if n_out is None:
            n_out = self.n_outputs(params)
        n = len(pairs)
        arr = (_Pair * n)(*[(q, len(q), p, len(p)) for q, p in pairs])
        out = (ctypes.c_float * (n * n_out))()
        err = _Error()
        st = _lib.rerank_score(self._session().ptr, ctypes.byref(params), arr, n, out, ctypes.byref(err))
        if st:
            raise error_from(st, err)
        return out, n_out

    def n_tokens(self, query, passage, params):
        """Length of the model input of one pair (bytes texts) under params."""
        pair = _Pair(query, len(query), passage, len(passage))
        enc = _Encoding()
        err = _Error()
        st = _lib.rerank_tokenize(self._handle.ptr, ctypes.byref(params), ctypes.byref(pair), ctypes.byref(enc),
                                  ctypes.byref(err))
        if st:
            raise error_from(st, err)
        n = enc.n_tokens
        _lib.rerank_encoding_free(ctypes.byref(enc))
        return n
