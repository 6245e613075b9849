"""Warm-start the demo's tiny model on reasoning-gym's basic_arithmetic prompts (CPU, minutes).

The demo model (src/rewardkit/data/arith-start) learned sums written `0+4+6=?`; reasoning-gym asks
`Calculate 0 + 4 + 6.`. This continues its supervised warm start for a few steps on reasoning-gym
prompts with the same (mostly verbose) traces of `tasks/synthetic.py`, so RL starts from a model
that sometimes answers. Usage, from the repository root:

    .venv/bin/python examples/reasoning_gym/warm_start.py --steps 150 --out runs/rg-start
"""

from __future__ import annotations

import argparse
import random
import re

import torch
import yaml
from transformers import AutoModelForCausalLM, AutoTokenizer

from rewardkit.tasks import get_task
from rewardkit.tasks.synthetic import concise_trace, verbose_trace
from rewardkit.train.sft import SFTConfig, batch_order, build_examples, collate, lr_at


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--config", default="examples/reasoning_gym/basic_arithmetic.yaml")
    ap.add_argument("--start", default="src/rewardkit/data/arith-start")
    ap.add_argument("--out", required=True)
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--problems", type=int, default=2000)
    ap.add_argument("--lr", type=float, default=1e-3)
    args = ap.parse_args()
    torch.set_num_threads(2)
    torch.manual_seed(0)
    with open(args.config, encoding="utf-8") as f:
        run = yaml.safe_load(f)
    task = get_task(run["task"], run.get("task_params"))
    model = AutoModelForCausalLM.from_pretrained(args.start)
    tokenizer = AutoTokenizer.from_pretrained(args.start)
    rng = random.Random(0)
    pairs = []
    for p in task.problems("train", args.problems, run.get("seed", 0)):
        # "Calculate 0 + 4 + 6." -> "0+4+6=?", the question form the traces are written for
        question = "+".join(re.findall(r"\d+", p.prompt)) + "=?"
        trace = verbose_trace(question, rng) if rng.random() < 0.8 else concise_trace(question)
        pairs.append((task.prompt(p), trace))
    examples = build_examples(tokenizer, pairs)
    cfg = SFTConfig(out=args.out, steps=args.steps, lr=args.lr, warmup_steps=10)
    optim = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.95))
    queue: list[list[int]] = []
    model.train()
    for step in range(args.steps):
        queue = queue or batch_order([len(ids) for ids, _ in examples], 32, rng)
        input_ids, labels, mask = collate([examples[i] for i in queue.pop()],
                                          tokenizer.pad_token_id)
        for group in optim.param_groups:
            group["lr"] = lr_at(step, cfg)
        logits = model(input_ids=input_ids, attention_mask=mask).logits  # (B, T, V)
        loss = torch.nn.functional.cross_entropy(logits[:, :-1].flatten(0, 1),
                                                 labels[:, 1:].flatten(), ignore_index=-100)
        optim.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optim.step()
        if (step + 1) % 25 == 0:
            print(f"step {step + 1}/{args.steps}  loss {loss.item():.4f}", flush=True)
    model.save_pretrained(args.out)
    tokenizer.save_pretrained(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
