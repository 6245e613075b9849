"""Run configuration: dataclasses, YAML files, dotted `--set` overrides, validated at load time.

    cfg = load_config("configs/grpo.yaml", ["sampling.group_size=4", "optim.lr=1e-5"])
    cfg = load_config("configs/grpo.yaml", ["rewards[1].weight=0.2"])  # one list element

Unknown keys and wrong types are errors naming the file, line and key, raised before anything
runs. The attribute docstrings are the documentation of each key. At most two levels of nesting.
"""

from __future__ import annotations

import dataclasses
import json
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from rewardkit.errors import UserError


@dataclass
class SamplingConfig:
    group_size: int = 8
    """completions per prompt (G)"""
    max_new_tokens: int = 512
    """sampling budget; length rewards and DAPO's overlong shaping read it"""
    temperature: float = 1.0
    top_p: float = 1.0
    chat_template: bool = False
    """wrap each prompt as a user message in the tokenizer's chat template (instruct models)"""


@dataclass
class RewardConfig:
    name: str = "accuracy"
    """registered reward name, or a dotted import path to user code"""
    weight: float = 1.0
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class AdvantageConfig:
    name: str = "grpo"
    """grpo | dr_grpo | rloo | reinforce_pp | reinforce_pp_baseline | canon | dotted path"""
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class LossConfig:
    name: str = "clip"
    """clip | gspo | cispo | drpo"""
    aggregation: str = "token_mean"
    """token_mean (DAPO) | seq_mean (GRPO) | constant (Dr. GRPO: / max_new_tokens)"""
    clip_low: float = 0.2
    clip_high: float = 0.2
    """0.28 for DAPO's clip-higher"""
    dual_clip: float | None = None
    """dual-clip constant c (e.g. 3 or 10) for negative advantages; null = off"""
    kl_coef: float = 0.0
    """KL to the reference model; 0 = no reference model is loaded"""
    kl_estimator: str = "k3"
    kl_in_reward: bool = False
    """put the KL penalty in the reward instead of the loss"""
    entropy_coef: float = 0.0
    params: dict[str, Any] = field(default_factory=dict)
    """extra keyword parameters of the chosen loss (e.g. drpo's tau, lam)"""


@dataclass
class OptimConfig:
    lr: float = 1e-6
    minibatch_size: int = 16
    """completions per forward/backward; gradients are accumulated over the step's batch"""
    epochs: int = 1
    """update passes over each step's batch (>1 makes the clip ratio matter)"""
    updates_per_epoch: int = 1
    """optimizer steps per epoch: the batch is split into this many parts (PPO-style
    mini-batches; >1 also makes the clip ratio matter)"""
    max_grad_norm: float = 1.0
    weight_decay: float = 0.0
    warmup_steps: int = 0
    schedule: str = "constant"
    """constant | cosine | linear (decay after warm-up)"""


@dataclass
class FiltersConfig:
    dynamic_sampling: bool = False
    """drop groups whose rewards are all equal and refill from new prompts (DAPO, DLER)"""
    max_refill_rounds: int = 3
    overlong_mask: bool = False
    """exclude truncated completions from the loss (DAPO overlong filtering)"""
    recompose: str = "keep_first"
    """which kept groups form the batch: keep_first (DAPO), or a dotted path to
    `fn(totals, *, target) -> list[int]` (batch recomposition hook)"""


@dataclass
class CheckpointConfig:
    every: int = 50
    """save every N steps, and always after the last step (0 = only after the last step)"""
    keep: int = 2
    """keep the newest K complete checkpoints"""


@dataclass
class VerifyConfig:
    """The verification service (rewardkit.verify): worker pool and deadlines."""

    workers: int = 0
    """worker processes for slow checks (math-verify); 0 = this machine's cores"""
    timeout_s: float = 5.0
    """wall-clock deadline per completion; an overrun is status "timeout", correct=None"""
    memory_mb: int = 4096
    """address-space cap per worker (RLIMIT_AS); an overrun is status 'error'"""
    max_failed_frac: float = 0.05
    """warn loudly when more than this share of a step's verdicts could not be judged"""


@dataclass
class TrainConfig:
    model: str = ""
    """a local model directory (HF format) or hub id"""
    task: str = "math"
    """registered task: arith, gsm8k, math, or a dotted path"""
    data: str | None = None
    """optional local data file (JSONL) for the task"""
    seed: int = 0
    steps: int = 100
    prompts_per_step: int = 8
    device: str = "auto"
    """auto | cpu | cuda"""
    dtype: str = "auto"
    """weights: auto (bf16 on CUDA, fp32 on CPU) | float32 | bfloat16"""
    autocast: str = "auto"
    """matrix products in bf16 over fp32 weights, sampling and training alike (mixed precision,
    as TRL's default bf16=True): auto (bf16 where the device multiplies bf16 natively: CUDA, or
    a CPU with AVX512-BF16 or AMX; else none) | bf16 | none"""
    lora_rank: int = 0
    """0 = full fine-tuning; >0 trains LoRA adapters through peft"""
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    rewards: list[RewardConfig] = field(default_factory=lambda: [RewardConfig()])
    advantage: AdvantageConfig = field(default_factory=AdvantageConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    filters: FiltersConfig = field(default_factory=FiltersConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    verify: VerifyConfig = field(default_factory=VerifyConfig)
    eval_every: int = 0
    """evaluate on held-out problems every N steps (0 = never)"""
    eval_problems: int = 64


# ---------------------------------------------------------------------------------------------
# Loading


def load_config(path: str | Path | None, overrides: list[str] = (), cls: type = TrainConfig):
    """Read YAML (defaults when `path` is None), apply `key=value` overrides, validate."""
    data: dict[str, Any] = {}
    lines: dict[str, int] = {}
    where = str(path) if path is not None else "--set"
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise UserError("no such config file", where=where)
        text = p.read_text(encoding="utf-8")
        try:
            data = yaml.safe_load(text) or {}
            lines = _key_lines(yaml.compose(text))
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            loc = f"{where}:{mark.line + 1}" if mark else where
            raise UserError(f"invalid YAML: {getattr(e, 'problem', e)}", where=loc) from None
        if not isinstance(data, dict):
            raise UserError("a config file must be a mapping of keys", where=where)
    for item in overrides:
        _apply_override(data, item, defaults=to_dict(cls()))
        lines.pop(item.partition("=")[0].strip(), None)
    cfg = from_dict(cls, data, where=where, lines=lines)
    if isinstance(cfg, TrainConfig):
        try:
            validate_train_config(cfg)
        except ConfigError as e:
            line = lines.get(e.key) or lines.get(e.key.rsplit(".", 1)[0])
            raise UserError(f"{e.key}: {e}", where=f"{where}:{line}" if line else where) from None
    return cfg


_INDEXED = re.compile(r"^(\w+)\[(\d+)\]$")  # rewards[0]


def _apply_override(data: dict, item: str, defaults: dict | None = None) -> None:
    """Set one dotted key; a part written `name[i]` selects element i of a list (the file's
    list, or the default one when the file has none), e.g. `rewards[0].weight=0.2`."""
    key, eq, raw = item.partition("=")
    if not eq or not key.strip():
        raise UserError(f"bad --set {item!r}: expected key=value (e.g. optim.lr=1e-5)")
    *parents, leaf = key.strip().split(".")
    node, default = data, defaults or {}
    for part in parents:
        indexed = _INDEXED.match(part)
        name, index = (indexed.group(1), int(indexed.group(2))) if indexed else (part, None)
        if name not in node and isinstance(default.get(name), (dict, list)):
            node[name] = json.loads(json.dumps(default[name]))  # a copy of the default
        node, default = node.setdefault(name, {}), default.get(name) or {}
        if index is not None:
            if not isinstance(node, list):
                raise UserError(f"bad --set {item!r}: {name!r} is not a list")
            if index >= len(node):
                raise UserError(f"bad --set {item!r}: {name} has {len(node)} entries "
                                f"(indices 0..{len(node) - 1})")
            node, default = node[index], {}
        if not isinstance(node, dict):
            raise UserError(f"bad --set {item!r}: {part!r} is not a section")
    node[leaf] = _parse_value(raw.strip())


def _parse_value(raw: str) -> Any:
    """YAML semantics for override values: 1e-5, true, null, [a, b], {k: v} all work."""
    try:
        return yaml.safe_load(raw)
    except yaml.YAMLError:
        return raw


def _key_lines(node: yaml.Node | None, prefix: str = "") -> dict[str, int]:
    """Dotted key -> 1-based line, so errors can point into the file."""
    out: dict[str, int] = {}
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            key = f"{prefix}{k.value}"
            out[key] = k.start_mark.line + 1
            out.update(_key_lines(v, key + "."))
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            out[f"{prefix[:-1]}[{i}]"] = v.start_mark.line + 1
            out.update(_key_lines(v, f"{prefix[:-1]}[{i}]."))
    return out


def from_dict(cls: type, data: Any, *, where: str = "config", lines: dict | None = None,
              prefix: str = ""):
    """Build dataclass `cls` from plain data, checking every key and type."""
    lines = lines or {}

    def fail(key: str, msg: str) -> UserError:
        line = lines.get(key)
        return UserError(f"{key}: {msg}", where=f"{where}:{line}" if line else where)

    if not isinstance(data, dict):
        return _coerce(cls, data, prefix.rstrip(".") or "config", fail)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        key = prefix + str(unknown[0])
        raise fail(key, f"unknown key; known keys here: {', '.join(fields)}")
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for name, value in data.items():
        kwargs[name] = _coerce(hints[name], value, prefix + name, fail, where, lines)
    return cls(**kwargs)


def _coerce(tp: Any, value: Any, key: str, fail, where: str = "", lines: dict | None = None):
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise fail(key, f"expected a mapping, got {value!r}")
        return from_dict(tp, value, where=where, lines=lines, prefix=key + ".")
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(inner[0], value, key, fail, where, lines)
    if origin is list:
        if not isinstance(value, list):
            raise fail(key, f"expected a list, got {value!r}")
        return [_coerce(args[0], v, f"{key}[{i}]", fail, where, lines) for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise fail(key, f"expected a mapping, got {value!r}")
        return dict(value)
    if tp is Any:
        return value
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp is float and isinstance(value, str):  # PyYAML reads 1e-5 (no dot) as a string
        try:
            return float(value)
        except ValueError:
            pass
    if tp in (int, float, str, bool) and type(value) is not tp:
        raise fail(key, f"expected {tp.__name__}, got {value!r}")
    return value


def to_dict(cfg: Any) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


def dump_config(cfg: Any) -> str:
    """The resolved config as YAML (saved with every run and checkpoint)."""
    return yaml.safe_dump(json.loads(json.dumps(to_dict(cfg))), sort_keys=False)


# ---------------------------------------------------------------------------------------------
# Validation: names resolve and parameters bind now, not at step 300


class ConfigError(ValueError):
    """A bad value; `key` is the dotted key it belongs to (load_config adds file and line)."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


_CHOICES = {
    "device": ("auto", "cpu", "cuda"),
    "dtype": ("auto", "float32", "bfloat16", "float16"),
    "autocast": ("none", "bf16", "auto"),
    "loss.aggregation": ("token_mean", "seq_mean", "constant", "sum"),
    "loss.kl_estimator": ("k1", "k2", "k3"),
    "optim.schedule": ("constant", "cosine", "linear"),
}
_AT_LEAST = {
    "steps": 0, "prompts_per_step": 1, "sampling.group_size": 1, "sampling.max_new_tokens": 1,
    "sampling.temperature": 0.0, "optim.lr": 0.0, "optim.minibatch_size": 1, "optim.epochs": 1,
    "optim.updates_per_epoch": 1, "optim.warmup_steps": 0, "filters.max_refill_rounds": 0,
    "checkpoint.every": 0, "checkpoint.keep": 1, "lora_rank": 0, "loss.kl_coef": 0.0,
    "eval_every": 0, "verify.workers": 0, "verify.timeout_s": 0.001, "verify.memory_mb": 64,
    "verify.max_failed_frac": 0.0,
}


def _get(cfg: Any, key: str) -> Any:
    for part in key.split("."):
        cfg = getattr(cfg, part)
    return cfg


def validate_train_config(cfg: TrainConfig) -> None:
    """Raise ConfigError for the first bad value: ranges, choices, unknown names, bad params."""
    import inspect

    for key, choices in _CHOICES.items():
        if _get(cfg, key) not in choices:
            raise ConfigError(key, f"expected one of {', '.join(choices)}, got {_get(cfg, key)!r}")
    for key, low in _AT_LEAST.items():
        if _get(cfg, key) < low:
            raise ConfigError(key, f"must be >= {low}, got {_get(cfg, key)!r}")
    if not cfg.model:
        raise ConfigError("model", "no model given (a local HF directory or hub id)")

    from rewardkit import rewards as _rewards  # noqa: F401  (registers the built-in rewards)
    from rewardkit import tasks as _tasks  # noqa: F401
    from rewardkit.registry import ADVANTAGES, LOSSES, UnknownName
    from rewardkit.rewards.combine import RewardSpec, bind_reward

    # The task name is checked when training starts, not here: configs may name a planned task.
    if not cfg.rewards:
        raise ConfigError("rewards", "at least one reward is needed")
    for i, r in enumerate(cfg.rewards):
        try:
            bind_reward(RewardSpec(r.name, r.weight, r.params))
        except UserError as e:
            raise ConfigError(f"rewards[{i}]", e.message) from None

    from rewardkit.train.filters import resolve_recompose

    try:
        resolve_recompose(cfg.filters.recompose)
    except ValueError as e:
        raise ConfigError("filters.recompose", str(e)) from None

    import rewardkit.advantages  # noqa: F401  (registers estimators)
    import rewardkit.losses as losses

    def check(key: str, registry: Any, name: str, n_positional: int, params: dict) -> None:
        try:
            fn = registry.get(name)
        except UnknownName as e:
            raise ConfigError(f"{key}.name", str(e)) from None
        try:
            inspect.signature(fn).bind_partial(*[None] * n_positional, **params)
        except TypeError as e:
            raise ConfigError(f"{key}.params", f"{name}: {e}") from None

    check("advantage", ADVANTAGES, cfg.advantage.name, 1, cfg.advantage.params)
    check("loss", LOSSES, cfg.loss.name, 4, cfg.loss.params)
    wants = inspect.signature(LOSSES.get(cfg.loss.name)).parameters
    if "group_ids" in wants and cfg.optim.minibatch_size % cfg.sampling.group_size:
        raise ConfigError("optim.minibatch_size", f"loss {cfg.loss.name!r} needs whole groups in "
                          "a minibatch: use a multiple of sampling.group_size")
    if not hasattr(losses, f"kl_{cfg.loss.kl_estimator}"):
        raise ConfigError("loss.kl_estimator", f"losses.kl_{cfg.loss.kl_estimator} is missing")
