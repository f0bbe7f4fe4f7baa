"""The GIL is released while the engine scores: another Python thread runs during a call, and two threads
score at the same time on one shared model (a session each), with the scores of a serial run. The proofs
are causal (a Python thread made progress inside the call; two calls were inside the engine together), not
timings: with a switch interval of 100 s a thread that kept the GIL would never be interrupted."""
import itertools
import sys
import threading

import pytest

from conftest import golden, model_dir
from rerank import FlagReranker


def workload():
    rows = golden("xlmr-seqcls-tiny", max_length=512)
    long = " ".join(r["passage"] for r in rows)  # ~ the whole 512-token budget per pair
    return [(r["query"], long[i:]) for i, r in enumerate(rows * 2)]


@pytest.fixture
def no_preemption():
    old = sys.getswitchinterval()
    sys.setswitchinterval(100.0)
    yield
    sys.setswitchinterval(old)


def test_another_thread_runs_during_a_call(no_preemption):
    reranker = FlagReranker(model_dir("xlmr-seqcls-tiny"), n_threads=1)
    pairs = workload()
    ticks, stop, started = [], threading.Event(), threading.Event()

    def ticker():
        started.set()
        while not stop.is_set():
            ticks.append(1)
            stop.wait(0.0005)  # blocks without the GIL, then needs it back to append

    t = threading.Thread(target=ticker)
    t.start()
    started.wait()
    before = len(ticks)          # from here to `after` this thread keeps the GIL unless the call releases it
    reranker.compute_score(pairs)
    after = len(ticks)
    stop.set()
    t.join()
    assert after > before, "no Python thread ran while compute_score was in the engine: the GIL was held"


def test_two_threads_score_together_with_serial_results(no_preemption):
    reranker = FlagReranker(model_dir("xlmr-seqcls-tiny"), n_threads=1)
    pairs = workload()
    halves = [pairs[0::2], pairs[1::2]]
    serial = [reranker.compute_score(h) for h in halves]
    for attempt in range(3):  # a thread the OS has not scheduled yet in time is the only way to miss it
        clock = itertools.count()  # next() is atomic under the GIL
        spans, results = [None, None], [None, None]
        barrier = threading.Barrier(2)

        def work(k):
            barrier.wait()
            start = next(clock)
            results[k] = reranker.compute_score(halves[k])
            spans[k] = (start, next(clock))

        threads = [threading.Thread(target=work, args=(k,)) for k in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert results == serial
        (a0, a1), (b0, b1) = spans
        if a0 < b1 and b0 < a1:  # each call started before the other one ended: both were inside at once
            return
    pytest.fail("the two calls never overlapped: %r" % (spans,))
