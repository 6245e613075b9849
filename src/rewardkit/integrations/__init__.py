"""rewardkit rewards inside the engines users already run (docs/scale-out.md).

`trl.make_reward_funcs` (TRL's GRPOTrainer), `verl` (compute_score and a reward manager),
`openrlhf.reward_func` and `rewardkit serve` (OpenRLHF's remote reward protocol). Each module
imports its engine lazily; `core` is what they share.
"""
