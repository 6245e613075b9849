"""Supervised warm start: teach a tiny model the `arith` task from generated traces.

    cfg = load_config("configs/sft_arith.yaml", ["out=runs/start"], cls=SFTConfig)
    sft(cfg)          # builds (or loads) the model, trains, writes OUT with save_pretrained

The traces (`tasks/synthetic.py`) are mostly verbose (restating, re-checking, redoing steps) and
partly concise, so the warmed-up model solves the problems but "overthinks": the room a
length-aware RL reward needs. The loop is plain torch: the loss is the cross-entropy summed over
completion tokens only (the trace and its EOS; prompt and padding are masked) and divided by the
batch's expected completion tokens (every token weighs the same in every batch), AdamW, linear
warm-up then cosine decay to `min_lr_ratio * lr`. The model and tokenizer are written to a temporary
folder beside OUT, which is then renamed into place, so OUT is never half-written.
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rewardkit.errors import UserError
from rewardkit.sampling.base import encode_prompt_ids


@dataclass
class SFTConfig:
    out: str = ""
    """output directory for the trained model + tokenizer (HF format)"""
    init: str | None = None
    """start from this model directory instead of a fresh tiny model"""
    layers: int = 2
    hidden: int = 96
    heads: int = 4
    intermediate: int | None = None
    """MLP width; null = 4 * hidden"""
    seed: int = 0
    """seeds the initialisation, the problems, the traces and the batch order"""
    num_problems: int = 20000
    """training problems (one trace each), drawn from the task's train split"""
    difficulties: list[int] = field(default_factory=lambda: [1, 2, 3])
    """additions per problem, cycled over the problems"""
    max_operand: int = 9
    """operands are drawn from 1..max_operand (9: the arith task's default)"""
    verbose_fraction: float = 0.8
    """share of traces in the verbose style; the rest are concise"""
    steps: int = 2000
    batch_size: int = 32
    lr: float = 3e-3
    min_lr_ratio: float = 0.05
    warmup_steps: int = 50
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0
    threads: int = 2
    """torch CPU threads (the demo machine has 2 cores)"""
    log_every: int = 50
    eval_every: int = 0
    """greedy accuracy on validation problems every N steps (0 = only at the end)"""
    eval_problems: int = 100
    """validation problems for the progress and final evaluation (0 = none)"""
    max_new_tokens: int = 400


# ---------------------------------------------------------------------------------------------
# Data


def build_examples(
    tokenizer: Any, pairs: Sequence[tuple[str, str]]
) -> list[tuple[list[int], int]]:
    """(token ids of prompt + completion + EOS, number of prompt tokens) per pair.

    The prompt is tokenized on its own by the samplers' own `encode_prompt_ids` without a chat
    template (`tokenizer(prompt)`, special tokens such as a BOS included), so the model learns
    to continue the very ids it will see at sampling time; the completion gets none.
    """
    out = []
    for prompt, completion in pairs:
        p = encode_prompt_ids(tokenizer, prompt, chat_template=False)
        c = tokenizer(completion, add_special_tokens=False)["input_ids"]
        out.append((p + c + [tokenizer.eos_token_id], len(p)))
    return out


def batch_order(lengths: Sequence[int], batch_size: int, rng: random.Random) -> list[list[int]]:
    """One epoch of batches: shuffled, then sorted by length within windows of 16 batches so a
    batch holds similar lengths (less padding), then the batches shuffled again.

    >>> order = batch_order([5, 1, 4, 2, 3, 6], 2, random.Random(0))
    >>> sorted(i for b in order for i in b), [len(b) for b in order]
    ([0, 1, 2, 3, 4, 5], [2, 2, 2])
    """
    idx = list(range(len(lengths)))
    rng.shuffle(idx)
    window = 16 * batch_size
    batches = []
    for start in range(0, len(idx), window):
        chunk = sorted(idx[start:start + window], key=lambda i: lengths[i])
        batches += [chunk[j:j + batch_size] for j in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


def collate(examples: Sequence[tuple[list[int], int]], pad_id: int):
    """(input_ids, labels, attention_mask), each (B, T), right-padded; labels -100 off the
    completion, so the loss covers the completion and its EOS only."""
    import torch

    width = max(len(ids) for ids, _ in examples)
    input_ids = torch.full((len(examples), width), pad_id, dtype=torch.long)  # (B, T)
    labels = torch.full((len(examples), width), -100, dtype=torch.long)  # (B, T)
    mask = torch.zeros((len(examples), width), dtype=torch.long)  # (B, T)
    for row, (ids, n_prompt) in enumerate(examples):
        t = torch.tensor(ids)
        input_ids[row, : len(ids)] = t
        labels[row, n_prompt : len(ids)] = t[n_prompt:]
        mask[row, : len(ids)] = 1
    return input_ids, labels, mask


def lr_at(step: int, cfg: SFTConfig) -> float:
    """Linear warm-up to `lr`, then cosine decay to `min_lr_ratio * lr` at the last step.

    >>> c = SFTConfig(steps=101, lr=1.0, warmup_steps=0, min_lr_ratio=0.0)
    >>> round(lr_at(0, c), 3), round(lr_at(50, c), 3), round(lr_at(100, c), 3)
    (1.0, 0.5, 0.0)
    """
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = (step - cfg.warmup_steps) / max(1, cfg.steps - 1 - cfg.warmup_steps)
    cosine = 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
    return cfg.lr * (cfg.min_lr_ratio + (1.0 - cfg.min_lr_ratio) * cosine)


# ---------------------------------------------------------------------------------------------
# Quick evaluation (greedy or sampled), used for progress and the final report


def quick_eval(
    model: Any,
    tokenizer: Any,
    problems: Sequence[Any],
    *,
    max_new_tokens: int = 400,
    temperature: float = 0.0,
    batch_size: int = 50,
    seed: int = 0,
) -> dict[str, float]:
    """Accuracy and mean completion tokens of `model` on `problems` (arith task).

    Greedy when `temperature` is 0. Tokens count the completion up to and including EOS, as a
    sampler's `num_tokens` would. The eval harness (`rewardkit eval`) is the full version.
    """
    import torch

    from rewardkit.tasks.synthetic import ArithTask

    task = ArithTask()
    was_training = model.training
    model.eval()
    correct, tokens, by_difficulty = 0, 0, {}
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        for start in range(0, len(problems), batch_size):
            chunk = problems[start:start + batch_size]
            enc = tokenizer([task.prompt(p) for p in chunk], return_tensors="pt",
                            padding=True, padding_side="left", add_special_tokens=False)
            with torch.no_grad():
                out = model.generate(
                    **enc,
                    max_new_tokens=max_new_tokens,
                    do_sample=temperature > 0,
                    temperature=temperature if temperature > 0 else None,
                    top_k=0 if temperature > 0 else None,
                    top_p=1.0,
                    pad_token_id=tokenizer.pad_token_id,
                    eos_token_id=tokenizer.eos_token_id,
                )
            new = out[:, enc["input_ids"].shape[1]:]  # (B, <= max_new_tokens)
            for p, ids in zip(chunk, new.tolist()):
                n = ids.index(tokenizer.eos_token_id) + 1 if tokenizer.eos_token_id in ids \
                    else len(ids)
                text = tokenizer.decode(ids[:n], skip_special_tokens=True)
                ok = task.check(task.parse_gold(p.answer), text)[0]
                correct += ok
                tokens += n
                d = by_difficulty.setdefault(p.meta.get("difficulty"), [0, 0])
                d[0] += ok
                d[1] += 1
    finally:
        torch.random.set_rng_state(generator_state)
        model.train(was_training)
    n = max(1, len(problems))
    return {
        "accuracy": correct / n,
        "mean_tokens": tokens / n,
        **{f"accuracy/d{d}": c / t for d, (c, t) in sorted(by_difficulty.items())},
    }


# ---------------------------------------------------------------------------------------------
# Training


def _fresh_or_init(cfg: SFTConfig, staging: Path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from rewardkit.models.tiny import build_tiny_model

    if cfg.init:
        src = Path(cfg.init)
        if not (src / "config.json").is_file():
            raise UserError("not a model directory (no config.json)", where=str(src))
    else:
        src = build_tiny_model(
            staging, layers=cfg.layers, hidden=cfg.hidden, heads=cfg.heads,
            intermediate=cfg.intermediate, seed=cfg.seed,
        )
    return AutoModelForCausalLM.from_pretrained(src), AutoTokenizer.from_pretrained(src)


def _validate(cfg: SFTConfig) -> None:
    if not cfg.out:
        raise UserError("out: required (where to write the model), e.g. --set out=runs/start")
    for key in ("steps", "batch_size", "num_problems", "threads", "log_every"):
        if getattr(cfg, key) < 1:
            raise UserError(f"{key}: must be at least 1, got {getattr(cfg, key)}")
    if cfg.lr <= 0:
        raise UserError(f"lr: must be positive, got {cfg.lr}")


def sft(cfg: SFTConfig, *, log=print) -> dict[str, Any]:
    """Train per `cfg`, write the model + tokenizer to `cfg.out`; returns the final metrics."""
    import torch

    from rewardkit.config import to_dict
    from rewardkit.models.tiny import count_parameters
    from rewardkit.tasks.synthetic import ArithTask, warm_start_examples

    _validate(cfg)
    torch.set_num_threads(cfg.threads)
    out = Path(cfg.out)
    staging = out.parent / f".{out.name}.tmp-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed)
            model, tokenizer = _fresh_or_init(cfg, staging)
            task = ArithTask()
            task.max_operand = cfg.max_operand
            metrics = _train(cfg, model, tokenizer, log=log, task=task,
                             make_pairs=warm_start_examples)
        model.save_pretrained(staging, safe_serialization=True)
        tokenizer.save_pretrained(staging)
        (staging / "sft.json").write_text(json.dumps(
            {"config": to_dict(cfg), "parameters": count_parameters(model), "metrics": metrics},
            indent=2) + "\n")
        for f in staging.iterdir():  # safetensors writes 0600; a shipped model must be readable
            f.chmod(0o644)
        _replace_dir(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    log(f"wrote {out}")
    return metrics


def _train(cfg: SFTConfig, model, tokenizer, *, log, task, make_pairs) -> dict[str, Any]:
    import torch
    import torch.nn.functional as F

    from rewardkit.models.tiny import count_parameters

    train = task.problems("train", cfg.num_problems, cfg.seed, difficulties=cfg.difficulties)
    valid = task.problems("validation", cfg.eval_problems, cfg.seed,
                          difficulties=cfg.difficulties) if cfg.eval_problems else []
    pairs = make_pairs(train, verbose_fraction=cfg.verbose_fraction, seed=cfg.seed)
    examples = build_examples(tokenizer, pairs)
    lengths = [len(ids) for ids, _ in examples]
    mean_completion = sum(len(ids) - n for ids, n in examples) / len(examples)
    log(f"sft: {count_parameters(model):,} parameters, {len(examples)} traces "
        f"(mean {sum(lengths) / len(lengths):.0f} tokens), {cfg.steps} steps of {cfg.batch_size}")

    decay = [p for n, p in model.named_parameters() if p.ndim >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.ndim < 2]
    optim = torch.optim.AdamW(
        [{"params": decay, "weight_decay": cfg.weight_decay},
         {"params": no_decay, "weight_decay": 0.0}],
        lr=cfg.lr, betas=(0.9, 0.95),
    )
    rng = random.Random(f"sft-batches:{cfg.seed}")
    queue: list[list[int]] = []
    model.train()
    start = time.perf_counter()
    running, seen_tokens, history = 0.0, 0, []
    for step in range(cfg.steps):
        if not queue:
            queue = batch_order(lengths, cfg.batch_size, rng)
        input_ids, labels, mask = collate([examples[i] for i in queue.pop()],
                                          tokenizer.pad_token_id)
        for group in optim.param_groups:
            group["lr"] = lr_at(step, cfg)
        logits = model(input_ids=input_ids, attention_mask=mask).logits  # (B, T, V)
        # Position t predicts token t+1. Summed over completion tokens and divided by a constant
        # (the batch's expected token count), not by this batch's own count: batches are sorted
        # by length, and a per-batch mean would weight a token of a short (concise) batch ~5x
        # more than one of a long (verbose) batch, so the model would learn a more concise mix
        # than the data has (measured: 45% instead of 80% verbose first tokens).
        token_loss = F.cross_entropy(logits[:, :-1].flatten(0, 1), labels[:, 1:].flatten(),
                                     ignore_index=-100, reduction="sum")
        loss = token_loss / (len(input_ids) * mean_completion)
        optim.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
        optim.step()
        running += loss.item()
        seen_tokens += int(mask.sum())
        last = step + 1 == cfg.steps
        if (step + 1) % cfg.log_every == 0 or last:
            elapsed = time.perf_counter() - start
            log(f"step {step + 1}/{cfg.steps}  loss {running / ((step % cfg.log_every) + 1):.4f}"
                f"  lr {lr_at(step, cfg):.2e}  {elapsed / 60:.1f} min  "
                f"{seen_tokens / elapsed:.0f} tok/s")
            running = 0.0
        if valid and ((cfg.eval_every and (step + 1) % cfg.eval_every == 0) or last):
            t0 = time.perf_counter()
            result = quick_eval(model, tokenizer, valid, max_new_tokens=cfg.max_new_tokens)
            start += time.perf_counter() - t0  # report training time without eval time
            history.append({"step": step + 1, **result})
            log(f"  eval step {step + 1}: greedy accuracy {result['accuracy']:.3f}, "
                f"mean tokens {result['mean_tokens']:.1f}  "
                + " ".join(f"{k[9:]}={v:.2f}" for k, v in result.items() if "/" in k))
    return {"train_minutes": (time.perf_counter() - start) / 60, "final_loss": loss.item(),
            "evals": history}


def _replace_dir(src: Path, dst: Path) -> None:
    """Put `src` at `dst`; an existing `dst` is moved aside first and removed only afterwards."""
    old = dst.parent / f".{dst.name}.old-{os.getpid()}"
    if dst.exists():
        os.replace(dst, old)
    os.replace(src, dst)
    shutil.rmtree(old, ignore_errors=True)
