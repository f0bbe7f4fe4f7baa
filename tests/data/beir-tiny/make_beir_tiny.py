#!/usr/bin/env python3
"""Builds tests/data/beir-tiny, a BEIR-format dataset from the shared test texts
(../shared/testdata/xlmr-seqcls-tiny/golden.jsonl): corpus.jsonl (some titles empty), queries.jsonl (two
queries the run does not use), qrels/test.tsv (graded), run.txt (a 12-candidate first-stage run per query with
ties), and the same data as collection.tsv / queries.tsv (title + " " + text as the TSV text).
Run from the repository root: python3 tests/data/beir-tiny/make_beir_tiny.py"""
import json, os, random

src = os.environ.get("RERANK_SHARED", "../shared") + "/testdata/xlmr-seqcls-tiny/golden.jsonl"
rows = [json.loads(l) for l in open(src)]
queries, passages = [], []
for r in rows:
    for lst, t in ((queries, r["query"]), (passages, r["passage"])):
        t = " ".join(t.split())  # one line, no tabs
        if t and t not in lst:
            lst.append(t)
rng = random.Random(15)
out = "tests/data/beir-tiny"
os.makedirs(out + "/qrels", exist_ok=True)
docs = []
for i, p in enumerate(passages):
    words = p.split()
    title = " ".join(words[:2]) if i % 3 == 0 and len(words) > 3 else ""
    text = " ".join(words[2:]) if title else p
    docs.append(("d%d" % i, title, text))
with open(out + "/corpus.jsonl", "w") as f, open(out + "/collection.tsv", "w") as g:
    for d, title, text in docs:
        f.write(json.dumps({"_id": d, "title": title, "text": text}, ensure_ascii=False) + "\n")
        g.write("%s\t%s\n" % (d, (title + " " + text) if title else text))
qids = ["q%d" % i for i in range(len(queries))]
with open(out + "/queries.jsonl", "w") as f, open(out + "/queries.tsv", "w") as g:
    for q, t in list(zip(qids, queries)) + [("unused-1", "a query without candidates"), ("unused-2", "another")]:
        f.write(json.dumps({"_id": q, "text": t}, ensure_ascii=False) + "\n")
        g.write("%s\t%s\n" % (q, t))
k = min(12, len(docs))
with open(out + "/run.txt", "w") as f, open(out + "/qrels/test.tsv", "w") as g:
    g.write("query-id\tcorpus-id\tscore\n")
    for q in qids:
        cands = rng.sample(docs, k)
        scores = [round(rng.uniform(5, 20), 1) for _ in cands]
        scores[3] = scores[4]  # a tie in the first-stage scores
        ranked = sorted(zip(scores, [c[0] for c in cands]), key=lambda x: (-x[0], x[1]))
        for rank, (s, d) in enumerate(ranked, 1):
            f.write("%s Q0 %s %d %.1f bm25\n" % (q, d, rank, s))
        for d in rng.sample([c[0] for c in cands], 3):
            g.write("%s\t%s\t%d\n" % (q, d, rng.choice([1, 1, 2])))
