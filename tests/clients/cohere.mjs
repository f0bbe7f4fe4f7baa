// cohere.mjs - the real npm cohere-ai SDK (pinned in package.json) against a running `rerank serve`:
// v1 and v2 rerank, object documents with rankFields, and Node fetch's view of an over-limit body.
// Usage: node cohere.mjs http://127.0.0.1:PORT   (the server runs with --max-body-bytes 65536)
// Prints "ok N checks" and exits 0, or prints the failed assertion and exits 1.
import assert from "node:assert/strict";
import { CohereClient, CohereClientV2 } from "cohere-ai";

const base = process.argv[2];
if (!base) {
  console.error("usage: node cohere.mjs BASE_URL");
  process.exit(2);
}
let checks = 0;
const check = (cond, msg) => {
  assert.ok(cond, msg);
  checks++;
};
const docs = [
  "The giant panda is a bear native to China.",
  "Paris is the capital of France.",
  "Pandas eat bamboo almost exclusively.",
];
const sorted = (results) => results.every((r, i) => i === 0 || results[i - 1].relevanceScore >= r.relevanceScore);

try {
  // v1: strings, default returnDocuments (the document comes back on /v1)
  const v1 = new CohereClient({ token: "unused", environment: base });
  let res = await v1.rerank({ model: "rerank-english-v3.0", query: "what do pandas eat?", documents: docs, topN: 2 });
  check(res.results.length === 2, "v1 topN");
  check(sorted(res.results), "v1 sorted");
  check(res.results.every((r) => r.relevanceScore >= 0 && r.relevanceScore <= 1), "v1 scores in 0..1");
  check(res.results.every((r) => r.document && r.document.text === docs[r.index]), "v1 document.text");
  check(typeof res.id === "string" && res.meta && res.meta.apiVersion, "v1 id and meta");
  res = await v1.rerank({ query: "what do pandas eat?", documents: docs });
  const v1Scores = Object.fromEntries(res.results.map((r) => [r.index, r.relevanceScore]));
  check(res.results.length === 3, "v1 without topN returns all");

  // v1 object documents: every field kept; rankFields chooses what is ranked
  const objs = [
    { title: "Bamboo", text: "Paris is the capital of France.", id: "a" },
    { title: "Capitals", text: "Pandas eat bamboo almost exclusively.", id: "b" },
  ];
  res = await v1.rerank({ query: "bamboo", documents: objs, returnDocuments: true });
  check(res.results.length === 2, "v1 objects");
  const byText = Object.fromEntries(res.results.map((r) => [r.index, r.relevanceScore]));
  check(res.results.every((r) => r.document && r.document.text === objs[r.index].text), "object text echoed");
  check(res.results.every((r) => r.document.title === objs[r.index].title && r.document.id === objs[r.index].id),
        "object fields other than text kept");
  res = await v1.rerank({ query: "bamboo", documents: objs, rankFields: ["title"], returnDocuments: false });
  const byTitle = Object.fromEntries(res.results.map((r) => [r.index, r.relevanceScore]));
  check(res.results.every((r) => r.document === undefined), "returnDocuments false");
  check(byTitle[0] !== byText[0] && byTitle[1] !== byText[1], "rankFields [title] ranks the titles, not the texts");
  res = await v1.rerank({ query: "bamboo", documents: objs, rankFields: ["title", "text"] });
  check(res.results.length === 2 && sorted(res.results), "rankFields [title, text]");

  // v2: strings, no document echo by default
  const v2 = new CohereClientV2({ token: "unused", environment: base });
  const r2 = await v2.rerank({ model: "rerank-v3.5", query: "what do pandas eat?", documents: docs, topN: 3 });
  check(r2.results.length === 3 && sorted(r2.results), "v2 results sorted");
  check(new Set(r2.results.map((r) => r.index)).size === 3, "v2 indices distinct");
  check(r2.results.every((r) => r.document === undefined), "v2 without documents");
  check(r2.results.every((r) => r.relevanceScore === v1Scores[r.index]), "v2 scores equal v1's on the same pairs");

  // Node fetch sends the whole body before reading: the 413 must still arrive (not a reset)
  const big = JSON.stringify({ query: "q", documents: ["x".repeat(4000000)] });
  const resp = await fetch(`${base}/v1/rerank`, { method: "POST", headers: { "Content-Type": "application/json" }, body: big });
  check(resp.status === 413, `oversized body: status ${resp.status}`);
  const err = await resp.json();
  check(err.error && err.error.limit === "max_body_bytes", "413 names max_body_bytes");
} catch (e) {
  console.error(`FAILED after ${checks} checks: ${e && e.stack ? e.stack : e}`);
  process.exit(1);
}
console.log(`ok ${checks} checks`);

