"""One TRL GRPOTrainer run (CPU, or `--device cuda`), the peer side of `trainer_vs_trl.py`.

Trains the given local model on arith prompts with the rewards rewardkit's side uses: the
`arith` verifier's accuracy plus Kimi k1.5's length term with weight 0.4 (so groups have reward
variance); beta 0. Prints one JSON line: the training loop's wall time, per-step times, the
mean completion length and the peak memory (the CUDA allocator's on a GPU, else the process's
resident set), so the driver can compare like with like.

    python benchmarks/trl_grpo_run.py --model DIR --steps 6 --prompts 4 --group 16
"""

from __future__ import annotations

import argparse
import json
import time


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--prompts", type=int, default=4)
    ap.add_argument("--group", type=int, default=16)
    ap.add_argument("--max-new-tokens", type=int, default=96)
    ap.add_argument("--lr", type=float, default=1e-5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ap.add_argument("--bf16", action="store_true",
                    help="bf16 autocast (TRL's default; the driver passes it to both sides)")
    args = ap.parse_args()

    import torch
    from datasets import Dataset
    from transformers import AutoTokenizer, TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    from rewardkit.tasks import get_task
    from rewardkit.train.metrics import peak_memory

    torch.set_num_threads(args.threads)
    task = get_task("arith")
    problems = task.problems("train", args.prompts * args.steps, args.seed)
    dataset = Dataset.from_list(
        [{"prompt": task.prompt(p), "answer": p.answer} for p in problems]
    )

    def accuracy(prompts, completions, answer, **kwargs):
        # The same check rewardkit's loop runs (Task.check against the parsed gold).
        return [float(task.check(task.parse_gold(a), c)[0] is True)
                for c, a in zip(completions, answer)]

    def kimi_length(prompts, completions, completion_ids, **kwargs):
        # Kimi k1.5's group-relative length term, as rewardkit's `kimi_length`. TRL passes a flat
        # batch; the group is recovered from TRL's layout (num_generations consecutive samples
        # per prompt), which is the bookkeeping rewardkit's group contract removes.
        correct = accuracy(prompts, completions, kwargs["answer"])
        out = []
        for g in range(0, len(completion_ids), args.group):
            lens = [len(c) for c in completion_ids[g : g + args.group]]
            lo, hi = min(lens), max(lens)
            for n, ok in zip(lens, correct[g : g + args.group]):
                lam = 0.0 if hi == lo else 0.5 - (n - lo) / (hi - lo)
                out.append(lam if ok else min(0.0, lam))
        return out

    step_times: list[float] = []
    lengths: list[float] = []

    class Timer(TrainerCallback):
        def on_step_begin(self, args_, state, control, **kw):
            self.t0 = time.perf_counter()

        def on_step_end(self, args_, state, control, **kw):
            step_times.append(time.perf_counter() - self.t0)

        def on_log(self, args_, state, control, logs=None, **kw):
            if logs and "completions/mean_length" in logs:
                lengths.append(logs["completions/mean_length"])

    batch = args.prompts * args.group
    config = GRPOConfig(
        output_dir="/tmp/trl-bench-out",
        use_cpu=args.device == "cpu",
        bf16=args.bf16,
        max_steps=args.steps,
        learning_rate=args.lr,
        per_device_train_batch_size=batch,  # one optimizer step per batch of P x G completions
        gradient_accumulation_steps=1,
        num_generations=args.group,
        max_completion_length=args.max_new_tokens,
        temperature=1.0,
        reward_weights=[1.0, 0.4],
        beta=0.0,
        num_iterations=1,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        seed=args.seed,
        shuffle_dataset=False,
        disable_tqdm=True,
        dataloader_num_workers=0,
    )
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    trainer = GRPOTrainer(
        model=args.model,
        reward_funcs=[accuracy, kimi_length],
        args=config,
        train_dataset=dataset,
        processing_class=tokenizer,
        callbacks=[Timer()],
    )
    t0 = time.perf_counter()
    trainer.train()
    wall = time.perf_counter() - t0
    # the same measure as rewardkit's metrics.jsonl
    memory = peak_memory(torch.device(args.device))
    peak = memory.get("memory/cuda_peak_gib", memory.get("memory/rss_peak_gib"))
    print(json.dumps({"peer": "trl", "train_s": wall, "step_s": step_times,
                      "mean_length": sum(lengths) / max(len(lengths), 1), "peak_gib": peak}))


if __name__ == "__main__":
    main()
