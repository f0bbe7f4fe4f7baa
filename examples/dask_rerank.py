"""dask_rerank.py - score a large JSONL of {"query", "passage"} pairs on a Dask cluster, one model per worker.

    python3 examples/dask_rerank.py --model bge-reranker-v2-m3 --input pairs.jsonl --workers 4 > scores.jsonl

Each worker process loads the model once (rerank.parallel.shared_reranker) and scores whole shards with it;
only texts and floats travel. The output lines are in input order and equal a single-process run's scores.
Point --scheduler at an existing cluster (tcp://host:8786) instead of starting a LocalCluster.
"""
import argparse
import json
import sys

from distributed import Client, LocalCluster

from rerank.parallel import score_shard


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, help="model directory (or hub id)")
    ap.add_argument("--input", required=True, help="JSONL with query and passage fields")
    ap.add_argument("--cls", default="FlagReranker", help="FlagReranker, FlagLLMReranker, CrossEncoder, ...")
    ap.add_argument("--workers", type=int, default=2, help="LocalCluster worker processes")
    ap.add_argument("--threads", type=int, default=1, help="engine threads per worker")
    ap.add_argument("--shard-size", type=int, default=256, help="pairs per task")
    ap.add_argument("--normalize", action="store_true", help="sigmoid scores")
    ap.add_argument("--scheduler", help="address of a running Dask scheduler")
    args = ap.parse_args()

    with open(args.input, encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    pairs = [(r["query"], r["passage"]) for r in rows]
    shards = [pairs[i:i + args.shard_size] for i in range(0, len(pairs), args.shard_size)]
    score_kwargs = {"normalize": True} if args.normalize and args.cls != "CrossEncoder" else None

    cluster = None if args.scheduler else LocalCluster(n_workers=args.workers, threads_per_worker=1,
                                                       processes=True, dashboard_address=None)
    with Client(args.scheduler or cluster) as client:
        futures = client.map(score_shard, shards, model_name_or_path=args.model, cls=args.cls,
                             score_kwargs=score_kwargs, n_threads=args.threads, pure=False)
        for shard in client.gather(futures):  # in shard order, so in input order
            for s in shard:
                sys.stdout.write(json.dumps({"score": s}) + "\n")
    if cluster is not None:
        cluster.close()


if __name__ == "__main__":
    main()
