"""python_overhead.py - what the Python package adds to a library call, and 2-thread scaling with the GIL
released. Tiny test model (../shared/testdata/xlmr-seqcls-tiny), so the engine's own time is small and the
Python-side cost shows.

    PYTHONPATH=python python3 bench/python_overhead.py [--model DIR] [--repeat N]

1. per call, 10 short pairs: (a) rerank_score through ctypes with the pairs and params already built (the
   library call itself plus ~1 us of ctypes), (b) FlagReranker.compute_score (list -> UTF-8 -> structs ->
   call -> list of floats), (c) CrossEncoder.predict (adds the longest-first length probes and numpy).
2. 2 threads: the same work (2 x N pairs, engine threads = 1 per call) run serially in one Python thread vs
   in two Python threads at once; the ratio is the parallel speed-up the released GIL allows.
"""
import argparse
import ctypes
import os
import statistics
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
from rerank import CrossEncoder, FlagReranker, _native  # noqa: E402


def best_of(fn, repeat, inner):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        for _ in range(inner):
            fn()
        times.append((time.perf_counter() - t) / inner)
    return min(times), statistics.median(times)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=os.path.join(here, "..", "..", "shared", "testdata", "xlmr-seqcls-tiny"))
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()

    pairs = [("what is panda?", "The giant panda is a bear species endemic to China. %d" % i) for i in range(10)]
    fr = FlagReranker(args.model, n_threads=1)
    ce = CrossEncoder(args.model, n_threads=1)
    sp = _native.default_score_params()
    sp.n_threads = 1
    texts = [(q.encode(), p.encode()) for q, p in pairs]
    arr = (_native._Pair * len(texts))(*[(q, len(q), p, len(p)) for q, p in texts])
    out = (ctypes.c_float * len(texts))()
    err = _native._Error()
    session = fr.model._session().ptr

    def raw():
        _native._lib.rerank_score(session, ctypes.byref(sp), arr, len(texts), out, ctypes.byref(err))

    raw()
    assert fr.compute_score(pairs) == list(out)
    inner = 50
    r = best_of(raw, args.repeat, inner)
    f = best_of(lambda: fr.compute_score(pairs), args.repeat, inner)
    c = best_of(lambda: ce.predict(pairs), args.repeat, inner)
    print("per call, 10 short pairs (best / median of %d x %d calls):" % (args.repeat, inner))
    print("  library call (ctypes, prebuilt inputs)  %9.1f / %9.1f us" % (r[0] * 1e6, r[1] * 1e6))
    print("  FlagReranker.compute_score              %9.1f / %9.1f us" % (f[0] * 1e6, f[1] * 1e6))
    print("  CrossEncoder.predict                    %9.1f / %9.1f us" % (c[0] * 1e6, c[1] * 1e6))

    # The Python side alone: the same calls with rerank_score replaced by a C function that only returns 0,
    # minus that stub call through ctypes.
    ext = None
    stub = no_op_function()
    if stub is None:
        print("(no C compiler: Python-side-only figures skipped)")
        return threads_part(args, fr)
    stub.restype, stub.argtypes = ctypes.c_int, _native._lib.rerank_score.argtypes
    real = _native._lib.rerank_score
    _native._lib.rerank_score = stub
    try:
        inner = 2000
        rs = best_of(lambda: stub(session, ctypes.byref(sp), arr, len(texts), out, ctypes.byref(err)),
                     args.repeat, inner)
        fs = best_of(lambda: fr.compute_score(pairs), args.repeat, inner)
        cs = best_of(lambda: ce.predict(pairs), args.repeat, inner)
        ext = c_extension()
        if ext is not None:
            stub_addr = ctypes.cast(stub, ctypes.c_void_p).value
            es = best_of(lambda: ext.score(stub_addr, session.value, ctypes.addressof(sp), pairs), args.repeat, inner)
    finally:
        _native._lib.rerank_score = real
    if ext is not None:
        real_addr = ctypes.cast(real, ctypes.c_void_p).value
        er = best_of(lambda: ext.score(real_addr, session.value, ctypes.addressof(sp), pairs), args.repeat, 50)
        assert ext.score(real_addr, session.value, ctypes.addressof(sp), pairs) == fr.compute_score(pairs)
    print("Python side only (rerank_score stubbed; best / median of %d x %d calls):" % (args.repeat, inner))
    print("  stub call through ctypes                %9.1f / %9.1f us" % (rs[0] * 1e6, rs[1] * 1e6))
    print("  FlagReranker.compute_score adds         %9.1f / %9.1f us = %.2f%% of the library call"
          % ((fs[0] - rs[0]) * 1e6, (fs[1] - rs[1]) * 1e6, 100 * (fs[0] - rs[0]) / r[0]))
    print("  CrossEncoder.predict adds               %9.1f / %9.1f us = %.2f%% of the library call"
          % ((cs[0] - rs[0]) * 1e6, (cs[1] - rs[1]) * 1e6, 100 * (cs[0] - rs[0]) / r[0]))
    if ext is not None:
        print("  a C extension (bench/python_ext_bench.c) adds %9.1f / %9.1f us = %.2f%% (real call: %.1f us)"
              % (es[0] * 1e6, es[1] * 1e6, 100 * es[0] / r[0], er[0] * 1e6))
    threads_part(args, fr)


def c_extension():
    """bench/python_ext_bench.c built against this interpreter's headers, or None (no compiler / headers)."""
    import importlib.util
    import subprocess
    import sysconfig
    import tempfile
    here = os.path.dirname(os.path.abspath(__file__))
    so = os.path.join(tempfile.mkdtemp(), "python_ext_bench" + sysconfig.get_config_var("EXT_SUFFIX"))
    cmd = ["cc", "-O2", "-shared", "-fPIC", "-I" + sysconfig.get_paths()["include"],
           "-I" + os.path.join(here, "..", "include"), "-o", so, os.path.join(here, "python_ext_bench.c")]
    try:
        subprocess.check_call(cmd, stderr=subprocess.DEVNULL)
    except (OSError, subprocess.CalledProcessError):
        print("(no Python headers or compiler: C extension figures skipped)")
        return None
    spec = importlib.util.spec_from_file_location("python_ext_bench", so)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def no_op_function():
    """int f(...) { return 0; } compiled into a temporary shared library, or None without a C compiler."""
    import subprocess
    import tempfile
    d = tempfile.mkdtemp()
    src, so = os.path.join(d, "stub.c"), os.path.join(d, "stub.so")
    with open(src, "w") as f:
        f.write("int rerank_stub(void *a, void *b, void *c, unsigned long n, void *d, void *e) { return 0; }\n")
    try:
        subprocess.check_call(["cc", "-O2", "-shared", "-fPIC", "-o", so, src])
    except (OSError, subprocess.CalledProcessError):
        return None
    return ctypes.CDLL(so).rerank_stub


def threads_part(args, fr):
    long_text = " ".join(["The giant panda is a bear species endemic to China, living in the mountains."] * 20)
    work = [[("what is panda? %d" % i, long_text[i:]) for i in range(k * 32, k * 32 + 32)] for k in range(2)]

    def serial():
        for w in work:
            fr.compute_score(w)

    def parallel():
        ts = [threading.Thread(target=fr.compute_score, args=(w,)) for w in work]
        for t in ts:
            t.start()
        for t in ts:
            t.join()

    serial()
    parallel()
    s = best_of(serial, args.repeat, 1)
    p = best_of(parallel, args.repeat, 1)
    fr2 = FlagReranker(args.model, n_threads=2)
    e = best_of(lambda: [fr2.compute_score(w) for w in work], args.repeat, 1)
    n_pairs = sum(len(w) for w in work)
    print("2 x 32 pairs of ~256 tokens, engine threads 1 per call (best / median of %d):" % args.repeat)
    print("  1 Python thread, serial     %7.1f / %7.1f ms  (%.0f pairs/s)" % (s[0] * 1e3, s[1] * 1e3, n_pairs / s[0]))
    print("  2 Python threads at once    %7.1f / %7.1f ms  (%.0f pairs/s)  speed-up %.2fx"
          % (p[0] * 1e3, p[1] * 1e3, n_pairs / p[0], s[0] / p[0]))
    print("  1 Python thread, engine n_threads=2  %7.1f / %7.1f ms  speed-up %.2fx" % (e[0] * 1e3, e[1] * 1e3, s[0] / e[0]))
    print("cores: %d, load average: %s" % (os.cpu_count(), " ".join("%.2f" % x for x in os.getloadavg())))


if __name__ == "__main__":
    main()
