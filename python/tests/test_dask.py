"""Beyond one machine: a sharded dataset scored on a Dask LocalCluster of 2 worker processes, one model per
worker (rerank.parallel caches it per process), gives exactly the single-process scores."""
import pytest

from conftest import golden, model_dir
from rerank import FlagReranker
from rerank.parallel import score_shard, worker_info

distributed = pytest.importorskip("distributed", reason="Dask distributed is not importable (python3-distributed)")


def test_sharded_dask_scores_equal_single_process():
    d = model_dir("xlmr-seqcls-tiny")
    pairs = [(r["query"], r["passage"]) for r in golden("xlmr-seqcls-tiny")]
    want = FlagReranker(d, n_threads=1).compute_score(pairs)
    shards = [pairs[i:i + 7] for i in range(0, len(pairs), 7)]
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  silence_logs=40) as cluster, distributed.Client(cluster) as client:
        workers = sorted(client.scheduler_info()["workers"])
        assert len(workers) == 2
        futures = [client.submit(score_shard, shard, d, n_threads=1, workers=[workers[i % 2]], pure=False)
                   for i, shard in enumerate(shards)]
        got = [s for shard in client.gather(futures) for s in shard]
        info = client.run(worker_info, d, n_threads=1)  # the model each worker process holds
    assert got == want  # exactly: a cross-encoder's score never depends on its batch
    pids = {pid for pid, _ in info.values()}
    assert len(pids) == 2 and all(len({m for p, m in info.values() if p == pid}) == 1 for pid in pids)
