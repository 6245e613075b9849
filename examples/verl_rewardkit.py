"""rewardkit in verl 0.9's reward loop (docs/scale-out.md, "verl"): point
`reward.reward_manager.module.path` at this file and `reward.reward_manager.name` at
`RewardkitLoopManager`; run `rewardkit serve --group-size <rollout.n> ...` at this URL first."""

from rewardkit.integrations.verl import make_loop_manager

RewardkitLoopManager = make_loop_manager("http://127.0.0.1:5000")
