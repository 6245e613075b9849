"""Run configuration: dataclasses, YAML files, dotted `--set` overrides, validated at load time.

    cfg = load_config("configs/grpo.yaml", ["sampling.group_size=4", "optim.lr=1e-5"])
    cfg = load_config("configs/grpo.yaml", ["rewards[1].weight=0.2"])  # one list element

Unknown keys and wrong types are errors naming the file, line and key, raised before anything
runs. The attribute docstrings are the documentation of each key. At most two levels of nesting.
"""

from __future__ import annotations

import dataclasses
import json
import logging
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
    """render each prompt's chat form (task_params.system_prompt, then the question as a user
    message) through the tokenizer's chat template (instruct models); plain text where the
    tokenizer has no template"""
    backend: str = "hf"
    """hf (the trainer's own decoding loop, CPU or GPU) | vllm (a vLLM engine in the trainer's
    process, one GPU; the policy's weights are copied into it after every update)"""
    vllm_gpu_memory_utilization: float = 0.3
    """share of the GPU's memory vLLM may take (weights + KV cache); the rest is the trainer's"""
    max_batch_size: int | None = None
    """most completions decoded together (bounds the sampler's rows and KV cache: rows x
    (prompt + max_new_tokens) positions); None decodes a step's whole batch at once"""


@dataclass
class RewardConfig:
    name: str = "accuracy"
    """registered reward name, or a dotted import path to user code"""
    weight: float = 1.0
    params: dict[str, Any] = field(default_factory=dict)
    primary: bool | None = None
    """NaN here makes the completion's total NaN (advantage 0, out of the group statistics);
    null = the reward's own default: true for accuracy and the rewards that stand in for it
    (cosine_length, l1_exact, l1_max, efficiency), false for shaping terms"""


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
    """token_mean (DAPO) | seq_mean (GRPO) | constant (Dr. GRPO: / max_new_tokens) | sum (DRPO)"""
    clip_low: float | None = None
    """lower clip range; null = the loss's own default (clip 0.2, gspo 3e-4, cispo 1.0)"""
    clip_high: float | None = None
    """upper clip range; null = the loss's own default (clip 0.2, gspo 4e-4, cispo 4.0);
    0.28 for DAPO's clip-higher"""
    dual_clip: float | None = None
    """dual-clip constant c (> 1, e.g. 3 or 10) for negative advantages (clip only); null = off"""
    kl_coef: float = 0.0
    """KL to the reference model; 0 = no reference model is loaded"""
    kl_estimator: str = "k3"
    kl_in_reward: bool = False
    """put the KL penalty in the reward instead of the loss"""
    entropy_coef: float = 0.0
    params: dict[str, Any] = field(default_factory=dict)
    """other keyword parameters of the chosen loss (e.g. drpo's tau, lam); a parameter with a
    named field above (clip_low, clip_high, dual_clip) is set there, not here"""


LOSS_FIELDS = ("clip_low", "clip_high", "dual_clip")
"""LossConfig fields that are hyperparameters of the loss function itself"""


def loss_kwargs(loss: LossConfig) -> dict[str, Any]:
    """The keyword hyperparameters the trainer passes to the loss: the named fields that were
    set (not null) and `params`. Unset means the loss's own default. Naming one parameter in
    both places is a ConfigError, so neither can silently win.

    >>> loss_kwargs(LossConfig(name="gspo"))
    {}
    >>> loss_kwargs(LossConfig(clip_high=0.28, params={"x": 1}))
    {'clip_high': 0.28, 'x': 1}
    """
    named = {k: getattr(loss, k) for k in LOSS_FIELDS if getattr(loss, k) is not None}
    both = sorted(set(named) & set(loss.params))
    if both:
        raise ConfigError(f"loss.params.{both[0]}", f"set twice (also as loss.{both[0]}); "
                          f"keep loss.{both[0]} only")
    return named | dict(loss.params)


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
    gradient_checkpointing: bool = False
    """recompute each decoder layer in the backward pass instead of storing its activations
    (less memory for long sequences, about one more forward pass of time)"""


@dataclass
class FiltersConfig:
    dynamic_sampling: bool = False
    """drop groups whose rewards are all equal and refill from new prompts (DAPO, DLER)"""
    max_refill_rounds: int = 3
    oversample: float = 1.0
    """sample ceil(oversample x missing groups) prompts per round (DAPO's recipe: 3, 1536
    generated for 512 trained); `recompose` chooses the batch from the surplus"""
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
    """registered task: arith, gsm8k, math, a dotted path, or reasoning_gym:NAME (a mix:
    reasoning_gym:NAME=WEIGHT,NAME=WEIGHT; needs the extra rewardkit[tasks])"""
    task_params: dict[str, Any] = field(default_factory=dict)
    """the task's settings. Every task: prompt_key, answer_key (data column names), instruction
    (appended to each question; "" = none), system_prompt (chat form; see sampling.chat_template).
    reasoning_gym:NAME also takes the generator's config (e.g. {min_terms: 2}) and `size` (train
    problems, default 10000); a mix takes one config mapping per generator name"""
    data: str | None = None
    """the task's training data: a JSONL, Parquet or CSV file, a datasets.save_to_disk folder
    (its train split) or a hub id; none for generating tasks (arith, reasoning_gym:*)"""
    seed: int = 0
    steps: int = 100
    prompts_per_step: int = 8
    device: str = "auto"
    """auto | cpu | cuda"""
    dtype: str = "auto"
    """weights: auto (fp32 on every device; bf16 speed comes from `autocast`) | float32 |
    bfloat16 (warned: AdamW updates of ~lr round away in bf16 weights) | float16 (LoRA only: no
    loss scaling here)"""
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
    locations: dict[str, str] = {}  # dotted key -> where it was set, for error messages
    where = str(path) if path is not None else "--set"
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise UserError("no such config file", where=where)
        text = p.read_text(encoding="utf-8")
        try:
            data = yaml.safe_load(text) or {}
            locations = {k: f"{where}:{n}" for k, n in _key_lines(yaml.compose(text)).items()}
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            loc = f"{where}:{mark.line + 1}" if mark else where
            raise UserError(f"invalid YAML: {getattr(e, 'problem', e)}", where=loc) from None
        if not isinstance(data, dict):
            raise UserError("a config file must be a mapping of keys", where=where)
    for item in overrides:
        _apply_override(data, item, defaults=to_dict(cls()))
        key = item.partition("=")[0].strip()  # its value (and whatever was under it) is new
        locations = {k: v for k, v in locations.items()
                     if k != key and not k.startswith((f"{key}.", f"{key}["))}
        locations[key] = f"--set {item}"
    cfg = from_dict(cls, data, where=where, locations=locations)
    if isinstance(cfg, TrainConfig):
        try:
            validate_train_config(cfg)
        except ConfigError as e:
            raise UserError(f"{e.key}: {e}", where=_locate(e.key, locations, where)) from None
    return cfg


def _locate(key: str, locations: dict[str, str], default: str) -> str:
    """Where `key` was set: its own line or `--set`, else the nearest enclosing key's (a
    default value inside a section the file writes), else `default`."""
    while key:
        if key in locations:
            return locations[key]
        key = key[:max(key.rfind("."), key.rfind("["), 0)]  # a.b[2].c -> a.b[2] -> a.b -> a
    return default


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


def from_dict(cls: type, data: Any, *, where: str = "config",
              locations: dict[str, str] | None = None, prefix: str = ""):
    """Build dataclass `cls` from plain data, checking every key and type; an error names
    where its key was set (`locations`: dotted key -> "file:line" or "--set key=value")."""
    locations = locations or {}

    def fail(key: str, msg: str) -> UserError:
        return UserError(f"{key}: {msg}", where=_locate(key, locations, where))

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
        kwargs[name] = _coerce(hints[name], value, prefix + name, fail, where, locations)
    return cls(**kwargs)


def _coerce(tp: Any, value: Any, key: str, fail, where: str = "",
            locations: dict[str, str] | None = None):
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise fail(key, f"expected a mapping, got {value!r}")
        return from_dict(tp, value, where=where, locations=locations, prefix=key + ".")
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(inner[0], value, key, fail, where, locations)
    if origin is list:
        if not isinstance(value, list):
            raise fail(key, f"expected a list, got {value!r}")
        return [_coerce(args[0], v, f"{key}[{i}]", fail, where, locations)
                for i, v in enumerate(value)]
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
    "sampling.backend": ("hf", "vllm"),
    "loss.aggregation": ("token_mean", "seq_mean", "constant", "sum"),
    "loss.kl_estimator": ("k1", "k2", "k3"),
    "optim.schedule": ("constant", "cosine", "linear"),
}
_AT_LEAST = {
    "steps": 0, "prompts_per_step": 1, "sampling.group_size": 1, "sampling.max_new_tokens": 1,
    "sampling.temperature": 0.0, "optim.lr": 0.0, "optim.minibatch_size": 1, "optim.epochs": 1,
    "optim.updates_per_epoch": 1, "optim.warmup_steps": 0, "filters.max_refill_rounds": 0,
    "filters.oversample": 1.0,
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
    if not 0 < cfg.sampling.vllm_gpu_memory_utilization < 1:
        raise ConfigError("sampling.vllm_gpu_memory_utilization", "must be between 0 and 1, got "
                          f"{cfg.sampling.vllm_gpu_memory_utilization!r}")
    if cfg.sampling.backend == "vllm" and cfg.lora_rank > 0:
        raise ConfigError("sampling.backend", "vllm with lora_rank > 0 is not supported yet (the "
                          "weight sync copies full weights); use backend: hf")
    if cfg.sampling.max_batch_size is not None and cfg.sampling.max_batch_size < 1:
        raise ConfigError("sampling.max_batch_size",
                          f"must be >= 1 or null, got {cfg.sampling.max_batch_size!r}")
    if not cfg.model:
        raise ConfigError("model", "no model given (a local HF directory or hub id)")
    if cfg.dtype == "float16" and cfg.lora_rank == 0:
        raise ConfigError("dtype", "float16 weights cannot be trained here (no loss scaling); use "
                          "dtype: auto (fp32 weights, bf16 matrix products through autocast)")

    from rewardkit import rewards as _rewards  # noqa: F401  (registers the built-in rewards)
    from rewardkit import tasks as _tasks  # noqa: F401
    from rewardkit.registry import ADVANTAGES, LOSSES, UnknownName
    from rewardkit.rewards.combine import RewardSpec, bind_reward

    # A registered task's name is checked when training starts, not here: configs may name a
    # planned task. A reasoning-gym task and its generator config are checked now (cheap).
    from rewardkit.tasks import get_task, is_reasoning_gym

    if is_reasoning_gym(cfg.task):
        try:
            get_task(cfg.task, cfg.task_params)
        except UserError as e:
            key = "task_params" if cfg.task_params else "task"
            raise ConfigError(key, re.sub(r"^task_params[.:]\s*", "", e.message)) from None
    if not cfg.rewards:
        raise ConfigError("rewards", "at least one reward is needed")
    for i, r in enumerate(cfg.rewards):
        try:
            bind_reward(RewardSpec(r.name, r.weight, r.params, r.primary))
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
    loss_fn = LOSSES.get(cfg.loss.name)
    wants = inspect.signature(loss_fn).parameters
    declared = set(getattr(loss_fn, "batch_fields", ()))
    for name, p in wants.items():
        if (p.kind is p.KEYWORD_ONLY and p.default is p.empty and name not in declared
                and name not in cfg.loss.params):
            raise ConfigError("loss.name", f"loss {cfg.loss.name!r} requires {name!r}, which the "
                              "trainer passes only when the loss declares it with "
                              "@rewardkit.losses.batch_fields(...)")
    kwargs = loss_kwargs(cfg.loss)
    for name in LOSS_FIELDS:
        if name in kwargs and name not in cfg.loss.params and name not in wants:
            raise ConfigError(f"loss.{name}", f"loss {cfg.loss.name!r} has no parameter {name}")
    if kwargs.get("dual_clip") is not None and kwargs["dual_clip"] <= 1:
        raise ConfigError("loss.dual_clip", f"must be > 1 (e.g. 3 or 10), got "
                          f"{kwargs['dual_clip']}")
    for name in ("clip_low", "clip_high"):
        if kwargs.get(name, 0) < 0:
            raise ConfigError(f"loss.{name}", f"must be >= 0, got {kwargs[name]}")
    warn_if_clip_is_inert(cfg, wants, kwargs)
    if cfg.optim.updates_per_epoch > cfg.prompts_per_step:
        logging.getLogger("rewardkit.config").warning(
            "optim.updates_per_epoch (%d) > prompts_per_step (%d): each optimizer step takes whole "
            "groups, so only %d steps per epoch have data and the others are skipped",
            cfg.optim.updates_per_epoch, cfg.prompts_per_step, cfg.prompts_per_step)
    whole_groups = getattr(loss_fn, "whole_groups", False)
    if whole_groups and cfg.optim.minibatch_size % cfg.sampling.group_size:
        raise ConfigError("optim.minibatch_size", f"loss {cfg.loss.name!r} needs whole groups in "
                          "a minibatch: use a multiple of sampling.group_size")
    if not hasattr(losses, f"kl_{cfg.loss.kl_estimator}"):
        raise ConfigError("loss.kl_estimator", f"losses.kl_{cfg.loss.kl_estimator} is missing")


def warn_if_clip_is_inert(cfg: TrainConfig, wants: Any, kwargs: dict[str, Any]) -> None:
    """Warn when clip settings differ from the loss's defaults but cannot act: with one
    optimizer step per batch the policy has not moved when the loss is taken, every ratio is
    exactly 1, and no clip bound can bind (issue 11, B3)."""
    if cfg.optim.epochs * cfg.optim.updates_per_epoch != 1:
        return
    changed = [k for k in LOSS_FIELDS
               if k in kwargs and k in wants and kwargs[k] != wants[k].default]
    if changed:
        logging.getLogger("rewardkit.config").warning(
            "loss.%s differ from %s's defaults but optim.epochs * optim.updates_per_epoch is 1: "
            "every ratio is exactly 1, so no clip bound can act; raise optim.updates_per_epoch "
            "(PPO-style mini-batches, e.g. 16 as in DAPO) for clipping to matter",
            "/".join(changed), cfg.loss.name)
