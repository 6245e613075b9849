"""TRL's GRPOTrainer with rewardkit rewards (docs/scale-out.md, "TRL").

    python examples/trl_grpo.py --out runs/trl-grpo --steps 4

The default model is the demo's warm-started `arith` model (shipped with rewardkit), which gets
some answers right, so HAPO's history fills from the first step; `--model DIR` takes any causal
LM (e.g. `rewardkit tiny-model --out runs/tiny`).

Any accelerate launch works the same: `accelerate launch examples/trl_grpo.py ...`; groups split
across processes are gathered before scoring.
"""

import argparse

from datasets import Dataset
from trl import GRPOConfig, GRPOTrainer

from rewardkit.integrations.trl import make_reward_funcs
from rewardkit.models.tiny import start_model_path
from rewardkit.tasks.synthetic import ArithTask

ap = argparse.ArgumentParser()
ap.add_argument("--model", default=None, help="default: the demo's arith starting model")
ap.add_argument("--out", required=True)
ap.add_argument("--steps", type=int, default=2)
args = ap.parse_args()

task = ArithTask()
problems = task.problems("train", 2, seed=0)  # few problems: each comes back (HAPO)
dataset = Dataset.from_list([{"prompt": task.prompt(p), "answer": p.answer, "id": p.id}
                             for p in problems])

funcs = make_reward_funcs("arith", ["accuracy", "kimi_length:weight=0.4", "hapo"])
config = GRPOConfig(output_dir=args.out, max_steps=args.steps, per_device_train_batch_size=4,
                    num_generations=4, max_completion_length=96, logging_steps=1, save_steps=1,
                    reward_weights=funcs.weights, report_to=[], use_cpu=True)
trainer = GRPOTrainer(model=args.model or str(start_model_path()), reward_funcs=list(funcs),
                      args=config, train_dataset=dataset, callbacks=[funcs.callback])
trainer.train()  # resume: trainer.train(resume_from_checkpoint=True) continues HAPO's history
for row in trainer.state.log_history:
    print({k: v for k, v in row.items() if k.startswith("rewards/") and k.endswith("/mean")})
