// ONNX Runtime runner for bench/run_peers.sh (onnxruntime-node, CPU execution provider): scores the token ids
// bench_rerank wrote (--ids, one JSON array per pair) one pair per run (batch 1: no padding, as a server
// scoring each request would), after one untimed warm-up pair, with every graph optimisation on.
//   node ort_run.mjs MODEL.onnx IDS.jsonl THREADS [SCORES_OUT]
// prints one line: seconds=... pairs_per_s=... tokens_per_s=... load_s=... peak_rss_mib=... ort=VERSION
import { readFileSync, writeFileSync } from 'node:fs';
import ort from 'onnxruntime-node';

const [modelPath, idsPath, threadsArg, scoresPath] = process.argv.slice(2);
if (!idsPath) {
  console.error('usage: node ort_run.mjs MODEL.onnx IDS.jsonl THREADS [SCORES_OUT]');
  process.exit(2);
}
const threads = Number(threadsArg || 2);
const seqs = readFileSync(idsPath, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l));

let t0 = performance.now();
const session = await ort.InferenceSession.create(modelPath, {
  executionProviders: ['cpu'],
  graphOptimizationLevel: 'all',
  executionMode: 'sequential',
  intraOpNumThreads: threads,
  interOpNumThreads: 1,
});
const loadS = (performance.now() - t0) / 1e3;

async function score(ids) {
  const n = ids.length;
  const feeds = {
    input_ids: new ort.Tensor('int64', BigInt64Array.from(ids, BigInt), [1, n]),
    attention_mask: new ort.Tensor('int64', new BigInt64Array(n).fill(1n), [1, n]),
  };
  const out = await session.run(feeds);
  return out.logits.data[0];
}

await score(seqs[0]); // warm-up: first-run allocations and kernel selection are not part of the rate
const scores = [];
t0 = performance.now();
for (const ids of seqs) scores.push(await score(ids));
const seconds = (performance.now() - t0) / 1e3;
const tokens = seqs.reduce((s, ids) => s + ids.length, 0);
if (scoresPath) writeFileSync(scoresPath, scores.map((x) => `${x.toPrecision(9)}\n`).join(''));
console.log(`seconds=${seconds.toFixed(3)} pairs_per_s=${(seqs.length / seconds).toFixed(2)} ` +
  `tokens_per_s=${(tokens / seconds).toFixed(0)} load_s=${loadS.toFixed(3)} ` +
  `peak_rss_mib=${(process.resourceUsage().maxRSS / 1024).toFixed(0)} ort=${ort.env.versions.common}`);
