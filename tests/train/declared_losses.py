"""User losses given by dotted path, for tests/train/test_loss_settings.py (tests/train is on
sys.path)."""

from __future__ import annotations

from rewardkit.losses import batch_fields, clip

SEEN: list[dict] = []


def named_like_drpo(logp, old_logp, advantages, mask, *, group_ids=None):
    """Has a parameter called group_ids but declares nothing: gets nothing, needs no groups."""
    SEEN.append({"group_ids": group_ids})
    return clip(logp, old_logp, advantages, mask)


def undeclared_required(logp, old_logp, advantages, mask, *, rewards):
    return clip(logp, old_logp, advantages, mask)


@batch_fields("rewards", "group_ids")
def declared(logp, old_logp, advantages, mask, *, rewards, group_ids):
    SEEN.append({"rewards": rewards, "group_ids": group_ids})
    return clip(logp, old_logp, advantages, mask)
