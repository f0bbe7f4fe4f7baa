"""urllib_client.py - Python's standard library against a running `rerank serve`, as a user without any SDK
would call it: Jina/Cohere and TEI shapes, errors as JSON, and an over-limit body that urllib sends whole
before reading (it must see the 413, not a broken pipe).

Usage: python3 urllib_client.py http://127.0.0.1:PORT   (the server runs with --max-body-bytes 65536)
Prints "ok N checks" and exits 0, or the failed check and exits 1."""
import json
import sys
import urllib.error
import urllib.request

BASE = sys.argv[1]
checks = 0


def check(cond, msg):
    global checks
    if not cond:
        print("FAILED after %d checks: %s" % (checks, msg))
        sys.exit(1)
    checks += 1


def post(path, body, content_type="application/json"):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    req = urllib.request.Request(BASE + path, data=data, headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


docs = ["The giant panda is a bear.", "Paris is in France.", "Pandas eat bamboo."]
st, res = post("/v1/rerank", {"model": "jina-reranker-v2-base-multilingual", "query": "panda food", "documents": docs,
                              "top_n": 2})
check(st == 200 and len(res["results"]) == 2, "jina-style request: %s %s" % (st, res))
check(all(r["document"]["text"] == docs[r["index"]] for r in res["results"]), "document.text returned by default")
check(res["results"][0]["relevance_score"] >= res["results"][1]["relevance_score"], "sorted")
check(res["usage"]["total_tokens"] > 0, "usage.total_tokens")

st, res = post("/rerank", {"query": "panda food", "texts": docs, "return_text": True})
check(st == 200 and len(res) == 3 and all(r["text"] == docs[r["index"]] for r in res), "TEI shape: %s" % res)

# urllib's default Content-Type for data is x-www-form-urlencoded: read as JSON
req = urllib.request.Request(BASE + "/v2/rerank", data=json.dumps({"query": "q", "documents": ["a"]}).encode())
with urllib.request.urlopen(req, timeout=30) as r:
    check(r.status == 200, "form-urlencoded default")

st, res = post("/v1/rerank", {"query": "q", "documents": []})
check(st == 400 and "documents" in res["error"]["message"], "400 names the field: %s" % res)
st, res = post("/rerank", {"query": "q", "texts": ["a"], "truncation_direction": "Up"})
check(st == 400 and res.get("error_type") == "validation", "TEI error shape: %s" % res)

# 4 MB: far more than socket buffers hold, so the server must read it to answer
st, res = post("/v1/rerank", b"{" + b" " * (4 << 20) + b"}")
check(st == 413 and res["error"]["limit"] == "max_body_bytes", "oversized body: %s %s" % (st, res))

st, res = post("/v1/rerank", b"\xef\xbb\xbf" + json.dumps({"query": "q", "documents": ["a"]}).encode())
check(st == 200, "a UTF-8 BOM is accepted")
print("ok %d checks" % checks)
