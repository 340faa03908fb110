"""Drives a running Strata cluster for the multi-GPU benchmarks (stdlib only); one JSON line
per run on stdout.

  pipeline_bench.py PORT check IDS_JSON PROMPT MAX_TOKENS
      greedy completion of PROMPT; exit 1 unless its token ids equal IDS_JSON's output_ids
      (the file `strata generate --json` writes)
  pipeline_bench.py PORT decode CONCURRENCY MAX_TOKENS
      CONCURRENCY greedy requests at once, short prompts, MAX_TOKENS each: generated tokens per
      second of wall time (several sequences in flight through the pipeline), and the pipeline
      passes they took (GET /v1/cluster's pipeline_passes) with the coordinator's step_policy
  pipeline_bench.py PORT prefill CONCURRENCY PROMPT_WORDS
      CONCURRENCY requests at once with prompts of about PROMPT_WORDS words and max_tokens 1:
      prompt tokens per second of wall time
  pipeline_bench.py PORT plan
      what the coordinator's plan predicts and each worker's link timing (GET /health)
  pipeline_bench.py - link BENCH_TRANSPORT_JSON
      "--link-gbps G --link-latency-ms L" from `strata bench-transport --json` (latency of
      the first shape, bandwidth of the last)
"""
import concurrent.futures
import json
import sys
import time
import urllib.error
import urllib.request


def complete(port, prompt, max_tokens):
    body = json.dumps({"prompt": prompt, "max_tokens": max_tokens, "temperature": 0,
                       "return_token_ids": True}).encode()
    request = urllib.request.Request("http://127.0.0.1:%s/v1/completions" % port, body,
                                     {"Content-Type": "application/json"})
    start = time.time()
    with urllib.request.urlopen(request, timeout=600) as r:
        out = json.load(r)
    return time.time() - start, out


def cluster_state(port):
    with urllib.request.urlopen("http://127.0.0.1:%s/v1/cluster" % port, timeout=10) as r:
        return json.load(r)


def concurrently(port, prompts, max_tokens):
    start = time.time()
    with concurrent.futures.ThreadPoolExecutor(len(prompts)) as pool:
        results = list(pool.map(lambda p: complete(port, p, max_tokens), prompts))
    return time.time() - start, results


def main(argv):
    port, mode = argv[1], argv[2]
    if mode == "plan":
        try:
            with urllib.request.urlopen("http://127.0.0.1:%s/health" % port, timeout=10) as r:
                health = json.load(r)
        except urllib.error.HTTPError as e:  # 503 while not serving: the body says why
            health = json.loads(e.read())
        print(json.dumps({"plan": health.get("plan"), "error": health.get("error"),
                          "links": [{k: w.get(k) for k in ("name", "stage", "sent", "received")}
                                    for w in health.get("workers", [])]}))
        return 0
    if mode == "link":
        with open(argv[3]) as f:
            results = json.load(f)["results"]
        print("--link-gbps %.3f --link-latency-ms %.4f" %
              (results[-1]["gb_per_s"], results[0]["one_way_us"]["mean"] / 1000))
        return 0
    if mode == "check":
        with open(argv[3]) as f:
            want = json.load(f)["output_ids"]
        _, out = complete(port, argv[4], int(argv[5]))
        got = out["choices"][0]["token_ids"]
        print(json.dumps({"check": argv[4][:40], "equal": got == want, "got": got, "want": want}))
        return 0 if got == want else 1
    concurrency = int(argv[3])
    words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"]
    if mode == "decode":
        max_tokens = int(argv[4])
        prompts = ["Request %d: %s" % (i, " ".join(words[i % 8:] + words[:i % 8]))
                   for i in range(concurrency)]
        before = cluster_state(port)
        wall, results = concurrently(port, prompts, max_tokens)
        after = cluster_state(port)
        passes = after["pipeline_passes"] - before["pipeline_passes"]
        tokens = sum(len(o["choices"][0]["token_ids"]) for _, o in results)
        print(json.dumps({"decode": {"concurrency": concurrency, "max_tokens": max_tokens,
                                     "wall_s": wall, "tokens": tokens,
                                     "tokens_per_s": tokens / wall, "passes": passes,
                                     "step_policy": after.get("step_policy"),
                                     "request_s": [round(s, 3) for s, _ in results]}}))
        return 0
    if mode == "prefill":
        n_words = int(argv[4])
        prompts = [" ".join(words[(i + j) % 8] for j in range(n_words)) for i in range(concurrency)]
        wall, results = concurrently(port, prompts, 1)
        prompt_tokens = sum(len(o["prompt_token_ids"]) for _, o in results)
        print(json.dumps({"prefill": {"concurrency": concurrency, "prompt_tokens": prompt_tokens,
                                      "wall_s": wall, "tokens_per_s": prompt_tokens / wall,
                                      "request_s": [round(s, 3) for s, _ in results]}}))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
