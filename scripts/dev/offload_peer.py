#!/usr/bin/env python3
"""The steps of scripts/dev/offload_peer.sh: Strata against Hugging Face Accelerate's
offload (device_map="auto" with max_memory and an offload folder) at equal memory budgets,
on a Llama 3.1 70B-shape checkpoint with a few layers.

Subcommands (each prints what it measured as one JSON line per run and writes it to --res):
  checkpoint  random bf16 weights (normal, std 0.02; norms 1) of Llama 3.1 70B shapes with
              --layers decoder layers, generated on the GPU tensor by tensor and written as
              safetensors shards of at most 5 GB plus model.safetensors.index.json
  prompt      a prompt of --tokens tokens (BOS included) by `strata tokenize`: prompt.txt,
              prompt_ids.json, prompt.json
  hf          loads the checkpoint with Accelerate at the budgets, then a cold run (every file
              of the checkpoint and the offload folder evicted from the page cache first) and
              a warm run (at once after): prefill of the prompt, greedy decode per token
  strata      one `strata generate --stats` run, cold (the pack's files evicted first) or warm,
              its raw output saved and its stats parsed
  table       the comparison table (markdown) from the results above and `strata bench-disk`

Eviction is posix_fadvise(POSIX_FADV_DONTNEED), best effort: pages that are dirty, or mapped by
a running process, stay. The share of the evicted bytes still cached afterwards (mincore) is
recorded with every cold run.

Only `checkpoint` and `hf` need torch (and transformers, accelerate, safetensors); the rest is
the standard library, so the Strata half runs anywhere (DRY=1 in the shell script).
"""
import argparse
import ctypes
import json
import os
import re
import shutil
import subprocess
import sys
import time

GB = 1e9
FIXTURE_FILES = ("tokenizer.json", "tokenizer_config.json", "generation_config.json")
WORDS = ("the quick brown fox jumps over the lazy dog while a small cat sleeps in the warm "
         "sun near an old stone wall").split()


# ---- page cache ------------------------------------------------------------------------

def files_under(paths):
    for root in paths:
        if os.path.isfile(root):
            yield root
            continue
        for dirpath, _, names in os.walk(root):
            for name in names:
                path = os.path.join(dirpath, name)
                if os.path.isfile(path) and not os.path.islink(path):
                    yield path


def evict(paths):
    """Drops the cached pages of every file under `paths`; returns (files, bytes)."""
    files = size = 0
    for path in files_under(paths):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            size += os.fstat(fd).st_size
            files += 1
        finally:
            os.close(fd)
    return files, size


def _libc():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                          ctypes.c_int, ctypes.c_long]
    libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p]
    return libc


def cached_fraction(paths):
    """The share of the bytes of the files under `paths` in the page cache (mincore), or None."""
    libc = _libc()
    page = os.sysconf("SC_PAGE_SIZE")
    total = cached = 0
    for path in files_under(paths):
        size = os.path.getsize(path)
        if size == 0:
            continue
        fd = os.open(path, os.O_RDONLY)
        try:
            addr = libc.mmap(None, size, 1, 1, fd, 0)  # PROT_READ, MAP_SHARED
            if addr in (None, ctypes.c_void_p(-1).value):
                return None
            pages = (size + page - 1) // page
            vec = ctypes.create_string_buffer(pages)
            rc = libc.mincore(addr, size, vec)
            libc.munmap(addr, size)
            if rc != 0:
                return None
            cached += sum(b & 1 for b in vec.raw) * page
            total += pages * page
        finally:
            os.close(fd)
    return cached / total if total else 0.0


# ---- GPU memory sampling ---------------------------------------------------------------

class GpuSampler:
    """nvidia-smi memory.used every 100 ms until peak() (at most max_s); peak() in GB, None
    without nvidia-smi. The sampler runs under `timeout`, so it cannot outlive a killed run."""

    def __init__(self, gpu, max_s):
        self.proc = None
        if shutil.which("nvidia-smi"):
            self.proc = subprocess.Popen(
                ["timeout", str(int(max_s)), "nvidia-smi", "-i", str(gpu), "--query-gpu=memory.used",
                 "--format=csv,noheader,nounits", "-lms", "100"],
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)

    def peak(self):
        if self.proc is None:
            return None
        self.proc.terminate()
        try:
            out, _ = self.proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, _ = self.proc.communicate()
        mib = [float(v) for v in out.split() if re.fullmatch(r"[\d.]+", v)]
        return max(mib) * 2**20 / GB if mib else None


# ---- checkpoint ------------------------------------------------------------------------

def llama70b_config(fixture_dir, layers):
    with open(os.path.join(fixture_dir, "config.json")) as f:
        config = json.load(f)
    config.update(hidden_size=8192, intermediate_size=28672, num_attention_heads=64,
                  num_key_value_heads=8, head_dim=128, vocab_size=128256,
                  num_hidden_layers=layers, torch_dtype="bfloat16", tie_word_embeddings=False)
    return config


def llama_tensors(c):
    """(name, shape) of every tensor in checkpoint order."""
    h, i, v, d = c["hidden_size"], c["intermediate_size"], c["vocab_size"], c["head_dim"]
    q, kv = c["num_attention_heads"] * d, c["num_key_value_heads"] * d
    out = [("model.embed_tokens.weight", (v, h))]
    for layer in range(c["num_hidden_layers"]):
        p = f"model.layers.{layer}."
        out += [(p + "input_layernorm.weight", (h,)),
                (p + "self_attn.q_proj.weight", (q, h)),
                (p + "self_attn.k_proj.weight", (kv, h)),
                (p + "self_attn.v_proj.weight", (kv, h)),
                (p + "self_attn.o_proj.weight", (h, q)),
                (p + "post_attention_layernorm.weight", (h,)),
                (p + "mlp.gate_proj.weight", (i, h)),
                (p + "mlp.up_proj.weight", (i, h)),
                (p + "mlp.down_proj.weight", (h, i))]
    return out + [("model.norm.weight", (h,)), ("lm_head.weight", (v, h))]


def shard_plan(tensors, max_bytes):
    """Consecutive tensors grouped into shards of at most max_bytes (bf16)."""
    shards, current, size = [], [], 0
    for name, shape in tensors:
        n = 2
        for s in shape:
            n *= s
        if current and size + n > max_bytes:
            shards.append(current)
            current, size = [], 0
        current.append((name, shape))
        size += n
    return shards + [current] if current else shards


def cmd_checkpoint(a):
    import torch
    from safetensors.torch import save_file

    start = time.time()
    config = llama70b_config(a.fixture, a.layers)
    shards = shard_plan(llama_tensors(config), int(a.shard_gb * GB))
    tmp = a.out + ".partial"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    torch.manual_seed(0)
    weight_map, total = {}, 0
    for k, shard in enumerate(shards):
        file = f"model-{k + 1:05d}-of-{len(shards):05d}.safetensors"
        tensors = {}
        for name, shape in shard:  # one shard (<= 5 GB) in host memory at a time
            if name.endswith("norm.weight"):
                t = torch.ones(shape, dtype=torch.bfloat16)
            else:
                t = torch.empty(shape, dtype=torch.bfloat16, device="cuda").normal_(0.0, 0.02).cpu()
            tensors[name] = t
            weight_map[name] = file
            total += t.numel() * 2
        save_file(tensors, os.path.join(tmp, file), metadata={"format": "pt"})
        print(f"  wrote {file} ({sum(t.numel() * 2 for t in tensors.values()) / GB:.2f} GB)",
              flush=True)
    with open(os.path.join(tmp, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)
    with open(os.path.join(tmp, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    for name in FIXTURE_FILES:
        if os.path.exists(os.path.join(a.fixture, name)):
            shutil.copy(os.path.join(a.fixture, name), tmp)
    os.sync()
    shutil.rmtree(a.out, ignore_errors=True)
    os.rename(tmp, a.out)
    print(json.dumps({"checkpoint": a.out, "layers": a.layers, "bytes": total,
                      "shards": len(shards), "seconds": round(time.time() - start, 1)}))


# ---- prompt ----------------------------------------------------------------------------

def tokenize(strata, model, text):
    out = subprocess.run([strata, "tokenize", "--model", model, text], capture_output=True,
                         text=True, timeout=120, check=True)
    return json.loads(out.stdout)


def cmd_prompt(a):
    """Words of WORDS, one token each after the first, until the prompt is --tokens ids."""
    n = a.tokens - 1
    for _ in range(20):
        text = " ".join(WORDS[k % len(WORDS)] for k in range(max(n, 1)))
        ids = tokenize(a.strata, a.model, text)
        if len(ids) == a.tokens:
            break
        n += a.tokens - len(ids)
    os.makedirs(a.res, exist_ok=True)
    with open(os.path.join(a.res, "prompt.txt"), "w") as f:
        f.write(text)
    with open(os.path.join(a.res, "prompt_ids.json"), "w") as f:
        json.dump(ids, f)
    record = {"prompt_tokens": len(ids), "target": a.tokens, "words": n, "with_bos": True}
    write_record(a.res, "prompt", record)


# ---- Accelerate ------------------------------------------------------------------------

def write_record(res, name, record):
    os.makedirs(res, exist_ok=True)
    with open(os.path.join(res, name + ".json"), "w") as f:
        json.dump(record, f, indent=1)
    print(json.dumps(record), flush=True)


def placement(model):
    """Modules, decoder layers and parameter bytes per device ('gpu', 'cpu', 'disk')."""
    out = {}
    for name, device in model.hf_device_map.items():
        where = "gpu" if isinstance(device, int) or str(device).startswith("cuda") else str(device)
        module = model.get_submodule(name) if name else model
        # Offloaded parameters are meta tensors: numel and element_size still hold.
        size = sum(p.numel() * p.element_size() for p in module.parameters())
        entry = out.setdefault(where, {"modules": 0, "layers": 0, "bytes": 0, "other": {}})
        entry["modules"] += 1
        entry["bytes"] += size
        if re.fullmatch(r"(model\.)?layers\.\d+", name):
            entry["layers"] += 1
        else:
            entry["other"][name or "<whole model>"] = size
    return out


def timed_run(torch, model, ids, decode_tokens, gpu, kwargs, before_pass=lambda: None):
    """Prefill, then greedy decode steps; `before_pass` runs (untimed) before each pass."""
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    free_before, total = torch.cuda.mem_get_info()
    sampler = GpuSampler(gpu, max_s=1800)
    with torch.no_grad():
        before_pass()
        t0 = time.perf_counter()
        out = model(input_ids=ids, use_cache=True, **kwargs)
        torch.cuda.synchronize()
        prefill = time.perf_counter() - t0
        steps = []
        for _ in range(decode_tokens):
            nxt = out.logits[:, -1:].argmax(-1)
            before_pass()
            t0 = time.perf_counter()
            out = model(input_ids=nxt, past_key_values=out.past_key_values, use_cache=True,
                        **kwargs)
            torch.cuda.synchronize()
            steps.append(time.perf_counter() - t0)
    free_after, _ = torch.cuda.mem_get_info()
    return {"prefill_s": prefill, "decode_s_per_token": sum(steps) / len(steps),
            "decode_steps_s": steps,
            "max_memory_allocated_gb": torch.cuda.max_memory_allocated() / GB,
            "max_memory_reserved_gb": torch.cuda.max_memory_reserved() / GB,
            "device_used_before_gb": (total - free_before) / GB,
            "device_used_after_gb": (total - free_after) / GB,
            "nvidia_smi_peak_gb": sampler.peak()}


def cmd_hf(a):
    import inspect

    import accelerate
    import torch
    import transformers
    from packaging import version
    from transformers import AutoModelForCausalLM

    with open(a.ids) as f:
        ids = torch.tensor([json.load(f)], dtype=torch.long, device=f"cuda:{a.gpu}")
    shutil.rmtree(a.offload_dir, ignore_errors=True)
    os.makedirs(a.offload_dir)
    # transformers 4.56 renamed torch_dtype to dtype; older versions know only torch_dtype.
    new = version.parse(transformers.__version__) >= version.parse("4.56")
    dtype_kw = "dtype" if new else "torch_dtype"
    t0 = time.perf_counter()
    model = AutoModelForCausalLM.from_pretrained(
        a.model, device_map="auto", max_memory={a.gpu: a.gpu_budget, "cpu": a.cpu_budget},
        offload_folder=a.offload_dir, **{dtype_kw: torch.bfloat16})
    model.eval()
    load_s = time.perf_counter() - t0
    forward = inspect.signature(model.forward).parameters
    kwargs = {"logits_to_keep": 1} if "logits_to_keep" in forward else {}
    where = placement(model)
    base = {"system": "accelerate", "dtype": "bf16", "gpu_budget": a.gpu_budget,
            "cpu_budget": a.cpu_budget, "prompt_tokens": ids.shape[1], "load_s": load_s,
            "placement": where, "disk_bytes": where.get("disk", {}).get("bytes", 0),
            "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                         "accelerate": accelerate.__version__}}
    # cold: the page cache is emptied before the prefill AND before every decode step, so the
    # modules Accelerate put on disk are read from the disk on every pass, as its budgets
    # say (without it, the page cache keeps them after the first pass: host memory beyond
    # max_memory["cpu"]). warm: nothing is evicted, the page cache serves its disk tier.
    def evict_all():
        return evict([a.model, a.offload_dir])

    for cache in ("cold", "warm"):
        record = dict(base, cache=cache)
        if cache == "cold":
            files, size = evict_all()
            record.update(evicted_files=files, evicted_bytes=size,
                          cached_after_evict=cached_fraction([a.model, a.offload_dir]),
                          evicted_before_every_pass=True)
        record.update(timed_run(torch, model, ids, a.decode_tokens, a.gpu, kwargs,
                                evict_all if cache == "cold" else (lambda: None)))
        write_record(a.res, f"hf_bf16_{cache}", record)


# ---- Strata ----------------------------------------------------------------------------

def parse_stats(text):
    """What `strata generate --stats` printed, parsed defensively: fields absent stay None."""
    r = {"prefill_s": None, "prefill_tokens": None, "decode_s_per_token": None,
         "decode_steps": None, "tiers": {}, "reads_via": None, "ssd_bytes_per_pass": None,
         "gpu_mem_predicted_bytes": None, "gpu_mem_measured_bytes": None, "memory_lines": []}
    m = re.search(r"prefill (\d+) tokens in ([\d.]+) ms", text)
    if m:
        r["prefill_tokens"], r["prefill_s"] = int(m[1]), float(m[2]) / 1e3
    m = re.search(r"decode (\d+) steps in ([\d.]+) ms", text)
    if m and int(m[1]) > 0:
        r["decode_steps"] = int(m[1])
        r["decode_s_per_token"] = float(m[2]) / 1e3 / int(m[1])
    m = re.search(r"reads via ([^;\n]+)", text)
    if m:
        r["reads_via"] = m[1].strip()
    # The per-layer table of the last pass: "  <layer> <tier> <ssd_read>ms ...".
    for m in re.finditer(r"^\s*(\d+)\s+(gpu|pinned|ssd)\b", text, re.M):
        r["tiers"][m[2]] = r["tiers"].get(m[2], 0) + 1
    # "memory: GPU predicted X GiB, measured Y GiB in use on the device ...; pinned predicted
    # P GiB, allocated A GiB" and "reads via ...; S GB from the SSD per pass; ..."
    m = re.search(r"memory: GPU predicted ([\d.]+) GiB, measured ([\d.]+) GiB", text)
    if m:
        r["gpu_mem_predicted_bytes"] = float(m[1]) * 2**30
        r["gpu_mem_measured_bytes"] = float(m[2]) * 2**30
        r["memory_lines"].append(m[0])
    m = re.search(r"pinned predicted ([\d.]+) GiB, allocated ([\d.]+) GiB", text)
    if m:
        r["pinned_mem_predicted_bytes"] = float(m[1]) * 2**30
        r["pinned_mem_allocated_bytes"] = float(m[2]) * 2**30
    m = re.search(r"reads via [^;\n]*; ([\d.]+) GB from the SSD per pass", text)
    if m:
        r["ssd_bytes_per_pass"] = float(m[1]) * 1e9
    m = re.search(r"^placement: .*$", text, re.M)
    if m:
        r["placement_line"] = m[0]
    return r


def layer_extent_bytes(pack):
    with open(os.path.join(pack, "manifest.json")) as f:
        manifest = json.load(f)
    return [e["bytes"] for e in manifest.get("extents", []) if e.get("name", "").startswith("layer.")]


def cmd_strata(a):
    with open(a.prompt_file) as f:
        prompt = f.read()
    record = {"system": "strata", "dtype": a.dtype, "cache": a.cache, "backend": a.backend,
              "gpu_budget": a.gpu_budget, "cpu_budget": a.cpu_budget}
    if a.cache == "cold":
        files, size = evict([a.pack])
        record.update(evicted_files=files, evicted_bytes=size,
                      cached_after_evict=cached_fraction([a.pack]))
    cmd = [a.strata, "generate", "--model", a.pack, "--backend", a.backend, "--gpu-mem",
           a.gpu_budget, "--pinned-mem", a.cpu_budget, "--prompt", prompt, "--max-tokens",
           str(a.max_tokens), "--stats"]
    sampler = GpuSampler(a.gpu, max_s=a.timeout + 10)
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=a.timeout)
        rc, out, err = proc.returncode, proc.stdout, proc.stderr
    except subprocess.TimeoutExpired as e:
        rc, out, err = "timeout", e.stdout or "", e.stderr or ""
        out, err = [s.decode(errors="replace") if isinstance(s, bytes) else s for s in (out, err)]
    record["wall_s"] = time.perf_counter() - t0
    record["nvidia_smi_peak_gb"] = sampler.peak()
    raw = os.path.join(a.res, f"strata_{a.dtype}_{a.cache}.txt")
    os.makedirs(a.res, exist_ok=True)
    with open(raw, "w") as f:
        f.write(" ".join(cmd[:10]) + f" --prompt \"$(cat {a.prompt_file})\" --max-tokens "
                f"{a.max_tokens} --stats\nexit: " + str(rc) +
                "\n--- stdout\n" + out + "\n--- stderr\n" + err)
    record.update(rc=rc, raw_output=os.path.basename(raw))
    record.update(parse_stats(err))
    layers = layer_extent_bytes(a.pack)
    record["layer_bytes"] = max(layers) if layers else None
    if record["ssd_bytes_per_pass"] is None and layers and record["tiers"]:
        # Not printed: SSD layers x layer extent (an upper bound if a layer is partly pinned).
        record["ssd_bytes_per_pass"] = record["tiers"].get("ssd", 0) * max(layers)
        record["ssd_bytes_source"] = "computed: ssd layers x layer extent"
    elif record["ssd_bytes_per_pass"] is not None:
        record["ssd_bytes_source"] = "printed by --stats"
    if rc != 0:
        record["error"] = err.strip().splitlines()[-1] if err.strip() else f"exit {rc}"
    write_record(a.res, f"strata_{a.dtype}_{a.cache}", record)


# ---- table -----------------------------------------------------------------------------

def load(res, name):
    path = os.path.join(res, name + ".json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def fmt(v, digits=2, suffix=""):
    return "—" if v is None else f"{v:.{digits}f}{suffix}"


def ratio(ref, v):
    return None if ref is None or not v else ref / v


def hf_placement(r):
    p = r["placement"]
    parts = [f"{d} {p[d]['layers']}" for d in ("gpu", "cpu", "disk") if d in p]
    others = [f"{o.split('.')[-1]} {d}" for d in ("gpu", "cpu", "disk") if d in p
              for o, size in p[d]["other"].items() if size > 0]
    return "layers " + " / ".join(parts) + (" (" + ", ".join(others) + ")" if others else "")


def strata_placement(r):
    t = r.get("tiers") or {}
    if not t:
        return "not printed"
    return "layers " + " / ".join(f"{k} {t[k]}" for k in ("gpu", "pinned", "ssd") if k in t)


def cmd_table(a):
    disk = load(a.res, "bench_disk")
    best = disk["best"]["gb_per_s"] if disk else None
    prompt = load(a.res, "prompt")
    tokens = prompt["prompt_tokens"] if prompt else 512
    hf_cold = load(a.res, "hf_bf16_cold")
    ref_p = hf_cold["prefill_s"] if hf_cold else None
    ref_d = hf_cold["decode_s_per_token"] if hf_cold else None
    rows = []
    names = [f"hf_bf16_{c}" for c in ("cold", "warm")] + \
            [f"strata_{d}_{c}" for d in ("bf16", "fp8", "int4") for c in ("cold", "warm")]
    for name in names:
        r = load(a.res, name)
        if r is None:
            system, dtype, cache = name.split("_")
            failed = system == "hf" and os.path.exists(os.path.join(a.res, "hf.log"))
            rows.append(["Accelerate" if system == "hf" else "Strata", dtype, cache,
                         "failed: see hf.log" if failed else "not run"] + ["—"] * 6)
            continue
        hf = r["system"] == "accelerate"
        disk_bytes = r.get("disk_bytes") if hf else r.get("ssd_bytes_per_pass")
        bound = disk_bytes / (best * GB) if disk_bytes is not None and best else None
        decode = r.get("decode_s_per_token")
        peak = r.get("nvidia_smi_peak_gb")
        if peak is None and hf:
            peak = r.get("max_memory_reserved_gb")
        where = hf_placement(r) if hf else strata_placement(r)
        if not hf and r.get("rc") != 0:
            where = f"failed: {r.get('error', '')[:120]} ({r['raw_output']})"
        rows.append([
            "Accelerate" if hf else "Strata", r["dtype"], r["cache"], where,
            fmt(r.get("prefill_s")), fmt(decode, 3), fmt(peak, 1),
            f"{fmt(ratio(ref_p, r.get('prefill_s')), 2, '×')}, {fmt(ratio(ref_d, decode), 2, '×')}",
            f"{bound:.3g}" if bound else ("0 (no disk bytes)" if disk_bytes == 0 else "—"),
            fmt(decode / bound if decode and bound else None, 2, "×")])
    head = ["system", "dtype", "cache", "placement", f"prefill {tokens} (s)", "decode/token (s)",
            "peak GPU GB", "vs Accelerate cold (prefill, decode)", "disk bound (s/token)",
            "decode / bound"]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    notes = [
        "",
        f"Disk: best {fmt(best)} GB/s ({disk['best']['how']}; buffered cold "
        f"{fmt(disk['buffered']['cold_gb_per_s'])}, warm {fmt(disk['buffered']['warm_gb_per_s'])} "
        f"GB/s) by `strata bench-disk` over windows of {disk['bytes'] / 2**30:.2f} GiB of the "
        f"bf16 pack's weights.bin, each measurement its own window."
        if disk else "Disk: bench-disk not run.",
        "vs Accelerate cold: Accelerate's cold bf16 time / this row's time (above 1 = faster).",
        "disk bound: bytes that must cross the disk per token / best disk GB/s — Strata: the SSD "
        "bytes per pass it reports (or SSD layers × layer extent); Accelerate: the parameter "
        "bytes of the modules it put on disk. decode / bound: how close decode comes to it "
        "(warm runs may beat it: the page cache serves what the disk would).",
        "peak GPU GB: nvidia-smi memory.used sampled every 100 ms during the run (whole device, "
        "CUDA contexts included); Accelerate falls back to torch's max reserved without it.",
        "Budgets: Accelerate's max_memory covers the modules it places; Strata's --gpu-mem and "
        "--pinned-mem cover the whole process (layers, staging, LM head, KV cache, activations, "
        "workspace; pinned layers, staging ring, embedding rows).",
        "Cold: the files were evicted with posix_fadvise(DONTNEED) (best effort; the share still "
        "cached afterwards is `cached_after_evict` in each run's JSON) — for Accelerate before "
        "the prefill and before every decode step, so its disk tier is read from the disk on "
        "every pass as its budget says; warm: the page cache keeps its disk tier after the first "
        "pass (host memory beyond its CPU budget). Strata reads the layers with O_DIRECT on "
        "every pass, so its cold and warm runs differ only where it reads buffered.",
    ]
    text = "\n".join(lines + notes) + "\n"
    with open(a.md, "w") as f:
        f.write(text)
    print(text)


# ---- main ------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("checkpoint")
    c.add_argument("--out", required=True)
    c.add_argument("--layers", type=int, default=10)
    c.add_argument("--fixture", required=True, help="tokenizer and config template directory")
    c.add_argument("--shard-gb", type=float, default=5.0)
    p = sub.add_parser("prompt")
    p.add_argument("--strata", required=True)
    p.add_argument("--model", required=True, help="directory with tokenizer.json")
    p.add_argument("--tokens", type=int, default=512)
    p.add_argument("--res", required=True)
    h = sub.add_parser("hf")
    h.add_argument("--model", required=True)
    h.add_argument("--ids", required=True, help="prompt_ids.json")
    h.add_argument("--gpu-budget", default="6GiB")
    h.add_argument("--cpu-budget", default="10GiB")
    h.add_argument("--offload-dir", required=True)
    h.add_argument("--decode-tokens", type=int, default=3)
    h.add_argument("--gpu", type=int, default=0)
    h.add_argument("--res", required=True)
    s = sub.add_parser("strata")
    s.add_argument("--strata", required=True)
    s.add_argument("--pack", required=True)
    s.add_argument("--dtype", required=True)
    s.add_argument("--cache", choices=("cold", "warm"), required=True)
    s.add_argument("--backend", default="cuda:0")
    s.add_argument("--gpu-budget", default="6GiB")
    s.add_argument("--cpu-budget", default="10GiB")
    s.add_argument("--prompt-file", required=True)
    s.add_argument("--max-tokens", type=int, default=8)
    s.add_argument("--timeout", type=float, default=600)
    s.add_argument("--gpu", type=int, default=0)
    s.add_argument("--res", required=True)
    t = sub.add_parser("table")
    t.add_argument("--res", required=True)
    t.add_argument("--md", required=True)
    a = ap.parse_args()
    {"checkpoint": cmd_checkpoint, "prompt": cmd_prompt, "hf": cmd_hf, "strata": cmd_strata,
     "table": cmd_table}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
