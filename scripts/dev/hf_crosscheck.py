#!/usr/bin/env python3
"""Cross-checks `strata` against Hugging Face transformers on checkpoints the tests never saw.

Builds random-weight Llama 3.x checkpoints of several shapes (tied and untied embeddings,
bf16/f16/f32, sharded and single-file, llama3 and no rope scaling, explicit and implicit
head_dim), each with the tokenizer of MODEL_DIR (tokenizer.json + tokenizer_config.json), then
for long prompts and a multi-turn chat compares `strata generate --json --dump-logits` with
transformers' float32 forward pass (input ids exact, last-position logits by max|a-b|/max|b|,
greedy ids up to the first near-tie), and `strata tokenize` with the HF tokenizer on strings
of mixed scripts, whitespace, digits and special tokens.

Needs torch and transformers (the GPU machine has both; no GPU is used).
usage: hf_crosscheck.py --strata build/cli/strata --tokenizer-dir tests/fixtures/tiny-llama31 --out DIR
"""
import argparse
import json
import os
import random
import shutil
import subprocess
import sys

import torch
from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

SHAPES = [
    dict(name="tied-bf16-sharded", hidden_size=96, intermediate_size=288, num_hidden_layers=3,
         num_attention_heads=6, num_key_value_heads=2, head_dim=16, tie_word_embeddings=True,
         dtype=torch.bfloat16, shard="3MB", rope="llama3"),
    dict(name="untied-f16-single", hidden_size=128, intermediate_size=320, num_hidden_layers=2,
         num_attention_heads=4, num_key_value_heads=4, head_dim=None, tie_word_embeddings=False,
         dtype=torch.float16, shard=None, rope=None),
    dict(name="tied-f32-gqa8", hidden_size=64, intermediate_size=160, num_hidden_layers=4,
         num_attention_heads=8, num_key_value_heads=1, head_dim=32, tie_word_embeddings=True,
         dtype=torch.float32, shard=None, rope="llama3"),
]

LONG_TEXT = ("In the beginning the Universe was created. This has made a lot of people very angry "
             "and been widely regarded as a bad move. ") * 12 + "Zürich, 東京, 12345 — ok?\n\tdef f(x): return x**2"

CHAT = [
    {"role": "system", "content": "You are a terse assistant. Answer in one line."},
    {"role": "user", "content": "  What's the capital of France?  "},
    {"role": "assistant", "content": "Paris."},
    {"role": "user", "content": "And of Japan? 🗾"},
    {"role": "assistant", "content": "Tokyo."},
    {"role": "user", "content": "Thanks!\nNow list three primes."},
]


def build_checkpoint(shape, tok_dir, out_dir, seed):
    torch.manual_seed(seed)
    kw = dict(vocab_size=128256, hidden_size=shape["hidden_size"],
              intermediate_size=shape["intermediate_size"],
              num_hidden_layers=shape["num_hidden_layers"],
              num_attention_heads=shape["num_attention_heads"],
              num_key_value_heads=shape["num_key_value_heads"],
              max_position_embeddings=131072, rms_norm_eps=1e-5,
              tie_word_embeddings=shape["tie_word_embeddings"], bos_token_id=128000,
              eos_token_id=[128001, 128008, 128009] if shape["rope"] else 128001)
    if shape["head_dim"]:
        kw["head_dim"] = shape["head_dim"]
    if shape["rope"] == "llama3":
        kw.update(rope_theta=500000.0, rope_scaling=dict(
            rope_type="llama3", factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0,
            original_max_position_embeddings=8192))
    else:
        kw.update(rope_theta=10000.0)
    config = LlamaConfig(**kw)
    model = LlamaForCausalLM(config)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name:
                p.copy_(1.0 + 0.3 * torch.randn_like(p))
            else:
                p.normal_(0.0, 0.25)
    model = model.to(shape["dtype"])
    save_kw = dict(safe_serialization=True)
    if shape["shard"]:
        save_kw["max_shard_size"] = shape["shard"]
    model.save_pretrained(out_dir, **save_kw)
    for f in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(os.path.join(tok_dir, f), out_dir)


def hf_reference(model_dir, input_ids, steps):
    model = LlamaForCausalLM.from_pretrained(model_dir, torch_dtype=torch.float32,
                                             attn_implementation="eager").eval()
    ids = torch.tensor([input_ids])
    with torch.no_grad():
        last = model(ids).logits[0, -1].float()
        greedy, margins = [], []
        cur = ids
        for _ in range(steps):
            logits = model(cur).logits[0, -1]
            top2 = torch.topk(logits, 2)
            greedy.append(int(top2.indices[0]))
            margins.append(float(top2.values[0] - top2.values[1]))
            cur = torch.cat([cur, top2.indices[:1].view(1, 1)], dim=1)
    return last, greedy, margins


def run_strata(strata, args):
    r = subprocess.run([strata] + args, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"strata {' '.join(args)} failed: {r.stderr.strip()}")
    return r.stdout


def check_generation(strata, model_dir, work, case, tok, steps=16):
    logits_path = os.path.join(work, "logits.f32")
    args = ["generate", "--model", model_dir, "--max-tokens", str(steps), "--json",
            "--dump-logits", logits_path]
    if case["kind"] == "chat":
        chat_path = os.path.join(work, "chat.json")
        with open(chat_path, "w") as f:
            json.dump(case["messages"], f)
        args += ["--chat", chat_path]
        ref_ids = tok.apply_chat_template(case["messages"], add_generation_prompt=True,
                                          tokenize=True)
        if hasattr(ref_ids, "keys"):
            ref_ids = ref_ids["input_ids"]
    else:
        args += ["--prompt", case["text"]]
        ref_ids = tok(case["text"])["input_ids"]
    out = json.loads(run_strata(strata, args))
    ours = torch.frombuffer(bytearray(open(logits_path, "rb").read()), dtype=torch.float32)
    last, greedy, margins = hf_reference(model_dir, ref_ids, steps)
    rel = float((ours - last).abs().max() / last.abs().max())
    comparable = next((i for i, m in enumerate(margins) if m < 0.02), steps)
    got = out["output_ids"]
    return dict(case=case["name"], prompt_tokens=len(ref_ids),
                input_ids_equal=out["input_ids"] == list(ref_ids),
                logits_max_rel_err=rel,
                greedy_comparable_steps=comparable,
                greedy_equal=got[:comparable] == greedy[:comparable],
                ok=out["input_ids"] == list(ref_ids) and rel < 1e-3 and
                got[:comparable] == greedy[:comparable])


def random_strings(rng, tok, n):
    pieces = ["hello", " world", "  ", "\n\n", "\t", "1234567", "3.14", "don't", "I'LL", "über",
              "naïve", "日本語", "中文", "русский", "עברית", "🚀", "👩‍💻", "<|eot_id|>",
              "<|begin_of_text|>", "<|start_header_id|>", "   ", "x=[1,2]", "!!!", "\r\n", "ß",
              "ǅ", "\u00a0", "\u2009", "𝔘𝔫𝔦", "a" * 30, " 9", "''", "’s", "'S"]
    out = []
    for _ in range(n):
        out.append("".join(rng.choice(pieces) for _ in range(rng.randint(1, 12))))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--strata", required=True)
    ap.add_argument("--tokenizer-dir", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    tok = AutoTokenizer.from_pretrained(a.tokenizer_dir)
    report = {"generation": [], "tokenize": {}}
    cases = [dict(kind="prompt", name="long-prompt", text=LONG_TEXT),
             dict(kind="prompt", name="short-prompt", text="The quick brown fox"),
             dict(kind="chat", name="multi-turn-chat", messages=CHAT)]
    for i, shape in enumerate(SHAPES):
        model_dir = os.path.join(a.out, "models", shape["name"])
        build_checkpoint(shape, a.tokenizer_dir, model_dir, seed=100 + i)
        for case in cases:
            r = check_generation(a.strata, model_dir, a.out, case, tok)
            r["model"] = shape["name"]
            report["generation"].append(r)
            print(json.dumps(r), flush=True)
    rng = random.Random(7)
    mismatches = []
    strings = random_strings(rng, tok, 80)
    for s in strings:
        for bos in (True, False):
            args = ["tokenize", "--model", a.tokenizer_dir] + ([] if bos else ["--no-bos"]) + [s]
            ours = json.loads(run_strata(a.strata, args))
            ref = tok(s, add_special_tokens=bos)["input_ids"]
            if ours != ref:
                mismatches.append(dict(text=s, bos=bos, ours=ours, ref=ref))
    report["tokenize"] = dict(strings=len(strings) * 2, mismatches=mismatches[:20],
                              mismatch_count=len(mismatches))
    print(json.dumps(report["tokenize"]))
    ok = all(r["ok"] for r in report["generation"]) and not mismatches
    report["ok"] = ok
    with open(os.path.join(a.out, "crosscheck.json"), "w") as f:
        json.dump(report, f, indent=1)
    shutil.rmtree(os.path.join(a.out, "models"))
    print("CROSSCHECK", "PASS" if ok else "FAIL")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
