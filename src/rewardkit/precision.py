"""Precision policy: which device, weight dtype and autocast dtype a run uses.

Training keeps fp32 weights everywhere by default, with the matrix products in bf16 (autocast)
where the hardware multiplies bf16 natively: mixed precision, as TRL (accelerate's bf16) and
verl (FSDP with fp32 master parameters) do. The optimizer then updates fp32 weights. Pure bf16
weights would lose AdamW's updates: a step moves a weight by about lr (1e-6 in every preset),
while a bf16 weight of magnitude 0.02 has a spacing of about 1e-4, so the update rounds away.
Inference only (`load_model` with dtype "auto") may load bf16 weights on CUDA: nothing updates
them there.
"""

from __future__ import annotations

import logging

import torch

from rewardkit.errors import UserError

log = logging.getLogger("rewardkit.precision")

_NAMES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """ "auto" -> cuda if available else cpu; anything else is passed to torch.device."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def resolve_dtype(dtype: str | torch.dtype, device: torch.device) -> torch.dtype:
    """Weight dtype for INFERENCE: "auto" -> bf16 on CUDA (when supported), fp32 elsewhere; or
    a name such as "float16". Training uses `training_dtype`.

    >>> resolve_dtype("auto", torch.device("cpu")), resolve_dtype("bf16", torch.device("cpu"))
    (torch.float32, torch.bfloat16)
    """
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype == "auto":
        if device.type == "cuda" and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float32
    resolved = _NAMES.get(dtype, getattr(torch, dtype, None))
    if not isinstance(resolved, torch.dtype):
        raise ValueError(f"unknown dtype {dtype!r}")
    return resolved


def training_dtype(dtype: str, *, lora_rank: int = 0) -> torch.dtype:
    """Weight dtype for TRAINING: "auto" -> fp32 on every device (bf16 speed comes from
    `resolve_autocast`). An explicit 16-bit choice for full fine-tuning is a trap: float16
    (no GradScaler here, so small gradients underflow) is a UserError, bfloat16 a warning
    (AdamW steps of about lr round away in bf16 weights). With LoRA only the warning applies.

    >>> training_dtype("auto")
    torch.float32
    """
    resolved = torch.float32 if dtype == "auto" else resolve_dtype(dtype, torch.device("cpu"))
    if resolved == torch.float16 and lora_rank == 0:
        raise UserError("dtype: float16 weights cannot be trained here (no loss scaling); use "
                        "dtype: auto (fp32 weights, bf16 matrix products through autocast)")
    if resolved in (torch.bfloat16, torch.float16):
        log.warning("dtype: %s trains %s weights directly: an AdamW step of about optim.lr "
                    "(1e-6) is below a 16-bit weight's rounding step (~1e-4 at magnitude 0.02), "
                    "so most updates are lost; dtype: auto keeps fp32 weights and still multiplies "
                    "in bf16 (autocast)", dtype, "LoRA adapter and base" if lora_rank else "all")
    return resolved


def has_native_bf16(device: torch.device) -> bool:
    """Whether `device` multiplies bf16 matrices in hardware (so bf16 autocast is a speed-up).

    CUDA: what torch reports. CPU: the AVX512-BF16 or AMX-BF16 instructions (read from
    /proc/cpuinfo; elsewhere False). Without them oneDNN emulates bf16, which is slower than fp32.
    """
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type != "cpu":
        return False
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line for line in f if line.startswith("flags")), "").split()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_autocast(
    autocast: str, device: torch.device, weights: torch.dtype
) -> torch.dtype | None:
    """The autocast dtype for `autocast` ("none" | "bf16" | "auto"), or None for none.

    "auto" -> bf16 when the weights are fp32 and the device has native bf16 (`has_native_bf16`:
    CUDA with bf16 support, or a CPU with AVX512-BF16/AMX); weights already in a 16-bit dtype
    need no autocast.
    """
    if autocast not in ("none", "bf16", "auto"):
        raise ValueError(f"autocast must be none, bf16 or auto, not {autocast!r}")
    if autocast == "none" or weights != torch.float32:
        return None
    if autocast == "auto" and not has_native_bf16(device):
        return None
    return torch.bfloat16


def training_precision(dtype: str, autocast: str, device: torch.device, *,
                       lora_rank: int = 0) -> tuple[torch.dtype, torch.dtype | None]:
    """(weight dtype, autocast dtype or None) for a training run: the trainer's one decision.
    By default fp32 weights, and bf16 matrix products where the device has native bf16.

    >>> training_precision("auto", "none", torch.device("cpu"))
    (torch.float32, None)
    """
    weights = training_dtype(dtype, lora_rank=lora_rank)
    return weights, resolve_autocast(autocast, device, weights)


def launcher_autocast(mixed_precision: str, autocast: torch.dtype | None,
                      weights: torch.dtype) -> torch.dtype | None:
    """The autocast dtype once `accelerate launch --mixed_precision` is honoured.

    "no" keeps the config's choice (`autocast`); "bf16" means what accelerate means by it, bf16
    autocast over the (fp32) weights; "fp16" and "fp8" are refused with a UserError: they need a
    loss scaler (fp16) or kernels this trainer does not have.

    >>> launcher_autocast("bf16", None, torch.float32), launcher_autocast("no", None, torch.float32)
    (torch.bfloat16, None)
    """
    if mixed_precision in ("no", None):
        return autocast
    if mixed_precision == "bf16":
        if autocast is None and weights == torch.float32:
            log.info("accelerate --mixed_precision bf16: bf16 autocast over fp32 weights")
        return torch.bfloat16 if weights == torch.float32 else None
    raise UserError(f"accelerate --mixed_precision {mixed_precision} is not supported (no loss "
                    "scaling here); launch with --mixed_precision bf16 or no, or set autocast "
                    "in the config")
