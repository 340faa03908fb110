#!/usr/bin/env python3
"""Times Hugging Face transformers' LlamaDecoderLayer at Llama 3.1 70B shapes on a GPU: the
peer that `docs/benchmarks.md` compares Strata's per-layer compute with, measured in the same
session. Prefill: 2048 tokens; decode: 1 token over a KV cache of 256. bf16, SDPA attention,
CUDA-event timing (mean/min/max over the timed calls after warm-ups). Prints one JSON line.

usage: hf_layer_peer.py [--iters 20]
"""
import argparse
import json
import statistics

import torch
from transformers import LlamaConfig
from transformers.cache_utils import DynamicCache
from transformers.models.llama.modeling_llama import LlamaDecoderLayer, LlamaRotaryEmbedding


def timed(fn, iters, warm=3, between=None):
    for _ in range(warm):
        fn()
        if between:
            between()
    torch.cuda.synchronize()
    times = []
    for _ in range(iters):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end))
        if between:
            between()
    return dict(mean_ms=statistics.mean(times), min_ms=min(times), max_ms=max(times),
                std_ms=statistics.pstdev(times))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--iters", type=int, default=20)
    a = ap.parse_args()
    cfg = LlamaConfig(hidden_size=8192, intermediate_size=28672, num_attention_heads=64,
                      num_key_value_heads=8, head_dim=128, num_hidden_layers=1,
                      max_position_embeddings=131072, rms_norm_eps=1e-5,
                      rope_theta=500000.0,
                      rope_scaling=dict(rope_type="llama3", factor=8.0, low_freq_factor=1.0,
                                        high_freq_factor=4.0,
                                        original_max_position_embeddings=8192))
    cfg._attn_implementation = "sdpa"
    dev = "cuda"
    layer = LlamaDecoderLayer(cfg, layer_idx=0).to(dev, torch.bfloat16).eval()
    rope = LlamaRotaryEmbedding(cfg).to(dev)
    weight_bytes = sum(p.numel() * p.element_size() for p in layer.parameters())
    out = dict(peer=f"transformers LlamaDecoderLayer bf16 sdpa, torch {torch.__version__}",
               device=torch.cuda.get_device_name(), weight_bytes=weight_bytes)
    with torch.no_grad():
        t = 2048
        x = torch.randn(1, t, 8192, device=dev, dtype=torch.bfloat16)
        pos = torch.arange(t, device=dev)[None]
        pe = rope(x, pos)
        out["prefill_2048"] = timed(lambda: layer(x, attention_mask=None, position_ids=pos,
                                                  position_embeddings=pe), a.iters)
        kv = 256
        try:
            cache = DynamicCache(config=cfg)
        except TypeError:
            cache = DynamicCache()
        xp = torch.randn(1, kv, 8192, device=dev, dtype=torch.bfloat16)
        ppos = torch.arange(kv, device=dev)[None]
        layer(xp, attention_mask=None, position_ids=ppos, position_embeddings=rope(xp, ppos),
              past_key_values=cache, use_cache=True, cache_position=ppos[0])
        x1 = torch.randn(1, 1, 8192, device=dev, dtype=torch.bfloat16)
        p1 = torch.tensor([[kv]], device=dev)
        pe1 = rope(x1, p1)
        step = lambda: layer(x1, attention_mask=None, position_ids=p1, position_embeddings=pe1,
                             past_key_values=cache, use_cache=True, cache_position=p1[0])
        out["decode_1_kv256"] = timed(step, a.iters, between=lambda: cache.crop(kv))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
