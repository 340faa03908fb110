"""Times completions against a Strata cluster (stdlib only): one greedy 32-token request, then
4 concurrent ones. usage: cluster_client.py HTTP_PORT"""
import concurrent.futures, json, sys, time, urllib.request
url = "http://127.0.0.1:%s/v1/completions" % sys.argv[1]
def complete(prompt, n):
    body = json.dumps({"prompt": prompt, "max_tokens": n, "temperature": 0, "return_token_ids": True}).encode()
    t = time.time()
    with urllib.request.urlopen(urllib.request.Request(url, body, {"Content-Type": "application/json"}), timeout=600) as r:
        out = json.load(r)
    return time.time() - t, out
prompts = ["The capital of France is", "Once upon a time", "def fib(n):", "Grüße aus Zürich"]
s, out = complete(prompts[0], 32)
print(json.dumps({"single": {"seconds": s, "tokens": len(out["choices"][0]["token_ids"]), "usage": out.get("usage")}}))
t = time.time()
with concurrent.futures.ThreadPoolExecutor(4) as ex:
    results = list(ex.map(lambda p: complete(p, 32), prompts))
wall = time.time() - t
n = sum(len(o["choices"][0]["token_ids"]) for _, o in results)
print(json.dumps({"concurrent4": {"wall_seconds": wall, "tokens": n, "tokens_per_s": n / wall,
                                  "per_request_s": [r[0] for r in results]}}))
