"""The shared parity fixture (data/parity_rollouts.jsonl) and what each engine would hand us.

The fixture: problems p1-p3 with 4 completions each over steps 0-2 (HAPO's history changes the
rewards of steps 1 and 2), some cut off at the 24-token budget, one ending with EOS exactly at the
budget (p2 step 1, completion 1: "stop"), and in step 2 a group p4 whose gold the arith verifier
cannot parse (verdicts None). Each engine's view is built from it the way that engine builds its
batch: TRL's flat prompt/completion/completion_ids lists, verl's padded token tensors.
"""

from __future__ import annotations

import json
from pathlib import Path

DATA = Path(__file__).parent / "data" / "parity_rollouts.jsonl"
TASK = "arith"
REWARDS = ["accuracy", "kimi_length:weight=0.4", "hapo", "dapo_overlong:buffer=8",
           "truncation:weight=0.5"]
LABELS = ["accuracy", "kimi_length", "hapo", "dapo_overlong", "truncation"]
BUDGET = 24
EOS, FILL = 1, 7  # token ids: the tiny tokenizer's EOS, and any other token


def lines() -> list[dict]:
    return [json.loads(line) for line in DATA.read_text().splitlines() if line.strip()]


def steps() -> list[list[dict]]:
    """The fixture's lines batched by step (lines are in step order)."""
    out: dict[int, list[dict]] = {}
    for line in lines():
        out.setdefault(line["step"], []).append(line)
    return [out[s] for s in sorted(out)]


def token_ids(completion: dict) -> list[int]:
    """Ids a sampler would return: EOS last unless the completion was cut off."""
    n = completion["num_tokens"]
    return [FILL] * n if completion["finish_reason"] == "length" else [FILL] * (n - 1) + [EOS]


def expected_from_score(tmp_path: Path) -> list[list[dict]]:
    """Per step, per completion: {label: value or None} from `rewardkit score`."""
    from rewardkit.cli.main import main

    out = tmp_path / "scored.jsonl"
    argv = ["score", "--task", TASK, "--input", str(DATA), "--output", str(out)]
    for spec in REWARDS:
        argv += ["--reward", spec]
    assert main(argv) == 0
    by_step: dict[int, list[dict]] = {}
    for line in out.read_text().splitlines():
        row = json.loads(line)
        by_step.setdefault(row["step"], []).extend(c["rewards"] for c in row["completions"])
    return [by_step[s] for s in sorted(by_step)]


def trl_batch(batch: list[dict]) -> dict:
    """TRL's reward-function arguments for one step: G consecutive rows per prompt."""
    prompts, completions, ids, answers, pids = [], [], [], [], []
    for line in batch:
        for c in line["completions"]:
            prompts.append(line["prompt"])
            completions.append(c["text"])
            ids.append(token_ids(c))
            answers.append(line["answer"])
            pids.append(line["id"])
    return {"prompts": prompts, "completions": completions, "completion_ids": ids,
            "answer": answers, "id": pids}


def close(a, b, tol: float = 1e-9) -> bool:
    """Equal rewards: both None, or floats within `tol`."""
    if a is None or b is None:
        return a is None and b is None
    return abs(a - b) <= tol


def exit_after_all_ranks(wait_for_everyone) -> None:
    """End a two-process test script once every rank is done, skipping interpreter teardown.

    Neither ending torch leaves open is reliable under gloo: the teardown can abort a finished
    rank ("terminate called without an active exception": gloo's runloop thread still frees a
    finished collective's tensors when the interpreter goes; pytorch PR 179291), and
    `destroy_process_group()` can deadlock on the same frees (seen here: the main thread joins
    the runloop thread while holding the GIL that thread waits for). What the test checks is on
    disk by now; the barrier keeps a rank from leaving while the other still needs it.
    """
    import os
    import sys

    wait_for_everyone()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
