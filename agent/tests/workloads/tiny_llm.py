"""A real mlx-lm workload with no download: a tiny randomly initialised Llama generating tokens.

usage: python tiny_llm.py [--tokens N] [--report-every SECS] [--agent] [--hidden H] [--layers L]
                          [--restart-every N]

Run it under the agent (``python -m headroom_agent run tiny_llm.py ...``) or pass --agent to
start the agent itself. Prints ``READY <pid>`` once the model is built, then one line per
report interval:  ``TPS <tokens/s over the interval> TOKENS <total> ELAPSED <s>`` and finally
``DONE <total tokens> <mean tokens/s>``. --tokens 0 (the default) generates forever.
headroom_agent.tick() is called after every token, so cooperative mode works.
--restart-every N starts generation again from the prompt every N tokens, so the work per token
stays the same for as long as it runs (one long generation slows down as its context grows).
"""

from __future__ import annotations

import os
import sys
import time

import mlx.core as mx
from mlx_lm.generate import generate_step
from mlx_lm.models import llama

import headroom_agent


def build_model(hidden: int, layers: int) -> llama.Model:
    """A Llama with random weights; the architecture is set by hand, nothing is downloaded."""
    args = llama.ModelArgs(
        model_type="llama",
        hidden_size=hidden,
        num_hidden_layers=layers,
        intermediate_size=hidden * 2,
        num_attention_heads=4,
        num_key_value_heads=2,
        rms_norm_eps=1e-5,
        vocab_size=1024,
    )
    mx.random.seed(0)
    model = llama.Model(args)
    mx.eval(model.parameters())
    return model


def parse_args(argv: list[str]) -> dict[str, float]:
    opts: dict[str, float] = {"tokens": 0, "report-every": 1.0, "hidden": 128, "layers": 2, "agent": 0, "restart-every": 0}
    i = 0
    while i < len(argv):
        name = argv[i][2:] if argv[i].startswith("--") else ""
        if name == "agent":
            opts["agent"] = 1
        elif name in opts and i + 1 < len(argv):
            opts[name] = float(argv[i + 1])
            i += 1
        else:
            raise SystemExit(f"unknown argument {argv[i]!r}\n{__doc__}")
        i += 1
    return opts


def main() -> None:
    opts = parse_args(sys.argv[1:])
    if opts["agent"]:
        headroom_agent.start()
    model = build_model(int(opts["hidden"]), int(opts["layers"]))
    print(f"READY {os.getpid()}", flush=True)
    limit = int(opts["tokens"]) or -1
    restart = int(opts["restart-every"])
    prompt = mx.array(list(range(1, 17)), dtype=mx.uint32)
    start = last = time.perf_counter()
    total = since = 0
    while limit < 0 or total < limit:
        left = limit - total if limit > 0 else -1
        run = min(restart, left) if restart > 0 and left > 0 else (restart or left)
        for _token, _logprobs in generate_step(prompt, model, max_tokens=run, max_kv_size=256):
            total += 1
            since += 1
            headroom_agent.tick()
            now = time.perf_counter()
            if now - last >= opts["report-every"]:
                print(f"TPS {since / (now - last):.1f} TOKENS {total} ELAPSED {now - start:.2f}", flush=True)
                last, since = now, 0
        if run < 0:
            break
    elapsed = time.perf_counter() - start
    print(f"DONE {total} {total / elapsed if elapsed > 0 else 0.0:.1f}", flush=True)


if __name__ == "__main__":
    main()
