"""Run under `accelerate launch --multi_gpu --num_processes 2` (gloo on CPU): TRL's real
GRPOTrainer for 2 steps with 2 completions per process and groups of 4, so every group is split
between the ranks. Each rank records what TRL handed the reward functions and what they
returned; the test re-scores the union in one process."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(out: Path, model: str) -> None:
    from datasets import Dataset
    from parity import exit_after_all_ranks
    from trl import GRPOConfig, GRPOTrainer

    from rewardkit.integrations.trl import make_reward_funcs

    funcs = make_reward_funcs("arith", ["accuracy", "kimi_length:weight=0.4", "hapo"])
    calls: list[dict] = []

    def recording(f, first: bool):
        def reward(**kw):
            values = f(**kw)
            if first:
                calls.append({"step": kw["trainer_state"].global_step,
                              "prompts": kw["prompts"], "completions": kw["completions"],
                              "completion_ids": kw["completion_ids"], "answer": kw["answer"],
                              "id": kw["id"], "rewards": {}})
            calls[-1]["rewards"][f.__name__] = values
            return values

        reward.__name__ = f.__name__
        return reward

    rows = [{"prompt": f"{a}+{b}=?\n", "answer": str(a + b), "id": f"q{i}"}
            for i, (a, b) in enumerate([(1, 2), (3, 4)])]
    args = GRPOConfig(output_dir=str(out / "run"), per_device_train_batch_size=2,
                      num_generations=4, max_completion_length=8, max_steps=2, logging_steps=1,
                      save_strategy="no", report_to=[], use_cpu=True, seed=0,
                      learning_rate=1e-3, reward_weights=funcs.weights, disable_tqdm=True)
    trainer = GRPOTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows),
                          reward_funcs=[recording(f, i == 0) for i, f in enumerate(funcs)],
                          callbacks=[funcs.callback])
    trainer.train()
    rank = trainer.accelerator.process_index
    (out / f"trainer-rank{rank}.json").write_text(json.dumps(calls))
    exit_after_all_ranks(trainer.accelerator.wait_for_everyone)


if __name__ == "__main__":  # not on import (pytest --doctest-modules imports it)
    main(Path(sys.argv[1]), sys.argv[2])
