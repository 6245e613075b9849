"""Run under `accelerate launch --multi_gpu --num_processes 2` (gloo on CPU): each rank calls the
TRL reward functions with its half of every step of the parity fixture, as GRPOTrainer would
(rank r holds rows [r*n, (r+1)*n) of the global batch), and writes what they returned."""

from __future__ import annotations

import json
import sys
from types import SimpleNamespace

import parity
from accelerate import PartialState

from rewardkit.integrations.trl import make_reward_funcs


def main() -> None:
    state = PartialState(cpu=True)
    funcs = make_reward_funcs(parity.TASK, parity.REWARDS, num_generations=4,
                              max_completion_length=parity.BUDGET, eos_token_ids=[parity.EOS])
    out = []
    for step, batch in enumerate(parity.steps()):
        full = parity.trl_batch(batch)
        n = len(full["prompts"]) // state.num_processes
        mine = {k: v[state.process_index * n:(state.process_index + 1) * n] for k, v in full.items()}
        columns = {"answer": mine.pop("answer"), "id": mine.pop("id")}
        rows = [f(**mine, **columns, trainer_state=SimpleNamespace(global_step=step)) for f in funcs]
        out.append([dict(zip(parity.LABELS, values)) for values in zip(*rows)])
    with open(f"{sys.argv[1]}/rank{state.process_index}.json", "w") as f:
        json.dump(out, f)
    parity.exit_after_all_ranks(state.wait_for_everyone)


if __name__ == "__main__":  # not on import (pytest --doctest-modules imports it)
    main()
