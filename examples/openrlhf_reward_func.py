"""OpenRLHF's local reward function (docs/scale-out.md, "OpenRLHF"): pass this file as
`--reward.remote_url examples/openrlhf_reward_func.py`. Edit the tokenizer path, the budget
(OpenRLHF's --rollout.max_new_tokens) and the group size (--rollout.n_samples_per_prompt)."""

from rewardkit.integrations.openrlhf import make_reward_func

reward_func = make_reward_func(
    "math", ["accuracy", "kimi_length:weight=0.4"],
    tokenizer="Qwen/Qwen2.5-Math-1.5B", max_new_tokens=1024, group_size=8,
)
