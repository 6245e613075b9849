"""Writes parity_rollouts.jsonl: 3 problems x 4 completions over 3 steps (HAPO history matters),
some cut off at the 24-token budget, one ending with EOS exactly at the budget, and one group
whose gold the arith verifier cannot parse (verdicts None). Run once; the output is committed."""

import json
import random
from pathlib import Path

BUDGET = 24


def completion(a: int, b: int, kind: str, rng: random.Random) -> dict:
    if kind == "cut":
        return {"text": "<think>" + f"{a}+{b}" * 6, "num_tokens": BUDGET, "finish_reason": "length"}
    ans = a + b if kind == "right" else a + b + 1
    return {"text": f"<think>{a}+{b}={ans}</think>\\boxed{{{ans}}}",
            "num_tokens": rng.randrange(6, BUDGET), "finish_reason": "stop"}


def main() -> None:
    rng = random.Random(14)
    lines = []
    for step in range(3):
        for pid, a, b in [("p1", 3, 4), ("p2", 5, 2), ("p3", 6, 1)]:
            comps = [completion(a, b, rng.choice(["right", "right", "wrong", "cut"]), rng)
                     for _ in range(4)]
            lines.append({"id": pid, "step": step, "prompt": f"{a}+{b}=?", "answer": str(a + b),
                          "max_new_tokens": BUDGET, "completions": comps})
    # EOS exactly at the budget: "stop", not truncated.
    lines[4]["completions"][1] = {"text": "<think>5+2=7</think>\\boxed{7}", "num_tokens": BUDGET,
                                  "finish_reason": "stop"}
    # A gold the verifier cannot parse: verdicts None -> accuracy null / TRL None.
    lines.append({"id": "p4", "step": 2, "prompt": "2+2=?", "answer": "four",
                  "max_new_tokens": BUDGET, "completions": [
                      {"text": "<think>2+2=4</think>\\boxed{4}", "num_tokens": 10},
                      {"text": "<think>2+2=5</think>\\boxed{5}", "num_tokens": 12},
                      {"text": "<think>2+2</think>\\boxed{4}", "num_tokens": 9},
                      {"text": "<think>" + "2+2" * 6, "num_tokens": BUDGET,
                       "finish_reason": "length"}]})
    for c in lines[-1]["completions"]:
        c.setdefault("finish_reason", "stop")
    out = Path(__file__).with_name("parity_rollouts.jsonl")
    out.write_text("".join(json.dumps(line) + "\n" for line in lines))


if __name__ == "__main__":
    main()
