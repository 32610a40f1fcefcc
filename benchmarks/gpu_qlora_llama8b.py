"""QLoRA on Llama-3.1-8B's exact shape, on one GPU: peak memory and tokens/s (no weights needed).

A randomly initialised LlamaForCausalLM with Llama-3.1-8B's configuration is written once in
bf16, then loaded through the recipe's own path (4-bit NF4 + double quantization, LoRA r=16 on
all linear layers, gradient checkpointing, bf16, paged 8-bit AdamW) and trained for 20 steps at
sequence length 2048, batch 2. Anchor: torchtune reports 7.4 GiB peak and 2,413 tokens/s on an
RTX 4090 for this setup.

    python benchmarks/gpu_qlora_llama8b.py [--steps 20] [--seq 2048] [--batch 2] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

LLAMA_3_1_8B = {
    "vocab_size": 128256, "hidden_size": 4096, "intermediate_size": 14336,
    "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8,
    "max_position_embeddings": 131072, "rms_norm_eps": 1e-5, "tie_word_embeddings": False,
    "rope_parameters": {"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0,
                        "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                        "original_max_position_embeddings": 8192},
    "bos_token_id": 128000, "eos_token_id": [128001, 128008, 128009],
}  # fmt: skip


def main() -> None:
    import torch
    from peft import get_peft_model, prepare_model_for_kbit_training
    from transformers import LlamaConfig, LlamaForCausalLM

    from services.trainer.memory import estimate_memory
    from shared.models.loading import device_profile, load_base_model, lora_config

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--seq", type=int, default=2048)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("this benchmark needs a CUDA GPU")

    profile = device_profile()
    config = LlamaConfig(**LLAMA_3_1_8B)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="llama8b-random-"))
    if not (workdir / "config.json").exists():
        started = time.perf_counter()
        torch.manual_seed(0)
        with torch.device("cuda"):
            random_model = LlamaForCausalLM(config).to(torch.bfloat16)
        random_model.save_pretrained(workdir, safe_serialization=True)
        del random_model
        torch.cuda.empty_cache()
        print(f"random 8B weights written to {workdir} in {time.perf_counter() - started:.0f} s")

    estimate = estimate_memory(
        config, quantization="4bit", lora_r=16, batch_size=args.batch, seq_len=args.seq,
        compute_bytes=2, gradient_checkpointing=True, device="cuda",
    )  # fmt: skip
    print(f"pre-flight estimate:\n{estimate.table()}")

    torch.cuda.reset_peak_memory_stats()
    model = load_base_model(workdir, quantization="4bit", profile=profile)
    model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=True)
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model = get_peft_model(model, lora_config(16, 32, 0.0))
    model.print_trainable_parameters()
    import bitsandbytes as bnb

    optimizer = bnb.optim.PagedAdamW8bit(
        [p for p in model.parameters() if p.requires_grad], lr=2e-4
    )
    generator = torch.Generator(device="cuda").manual_seed(0)
    timings = []
    for step in range(args.steps):
        ids = torch.randint(
            0, config.vocab_size, (args.batch, args.seq), device="cuda", generator=generator
        )
        torch.cuda.synchronize()
        started = time.perf_counter()
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        torch.cuda.synchronize()
        timings.append(time.perf_counter() - started)
        print(f"step {step + 1}/{args.steps} loss {loss.item():.3f} {timings[-1]:.2f} s")
    steady = timings[3:] or timings  # the first steps include kernel autotuning
    tokens_per_s = args.batch * args.seq * len(steady) / sum(steady)
    peak = torch.cuda.max_memory_allocated() / (1 << 30)
    estimated = estimate.total / (1 << 30)
    print(f"\n{torch.cuda.get_device_name(0)}: peak {peak:.2f} GiB allocated")
    print(f"(estimate {estimated:.2f} GiB), {tokens_per_s:,.0f} tokens/s")
    print(f"vs the RTX 4090 anchor: {peak / 7.4:.2f}x memory, {tokens_per_s / 2413:.2f}x tokens/s")


if __name__ == "__main__":
    main()
