"""One small name -> function registry, used for rewards, tasks, advantage estimators and losses.

A name that is not registered but contains a dot is imported (`my_pkg.rewards.brevity`), so users
extend rewardkit without forking it. Unknown names fail listing the known ones.

Each registry knows the package that defines its built-ins and imports it on first lookup
(`get`, `names`, `in`), so `import rewardkit; rewardkit.REWARDS.get("accuracy")` works without
importing `rewardkit.rewards` first, and `import rewardkit` itself stays light (no torch: only
the first use of LOSSES imports it).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Generic, TypeVar

F = TypeVar("F", bound=Callable)


class UnknownName(KeyError):
    """An unregistered name; the message lists what exists."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0])


class Registry(Generic[F]):
    """Name -> function. `kind` names the registry in error messages ("reward", "loss", ...);
    `builtins` is the module that registers the built-in entries when imported."""

    def __init__(self, kind: str, builtins: str | None = None) -> None:
        self.kind = kind
        self._fns: dict[str, F] = {}
        self._builtins = builtins

    def _load_builtins(self) -> None:
        module, self._builtins = self._builtins, None  # once, and never recursively
        if module is not None:
            importlib.import_module(module)

    def register(self, name: str) -> Callable[[F], F]:
        def add(fn: F) -> F:
            if self._fns.get(name, fn) is not fn:
                raise ValueError(
                    f"{self.kind} {name!r} is already registered by {self._fns[name].__module__}"
                )
            self._fns[name] = fn
            return fn

        return add

    def get(self, name: str) -> F:
        self._load_builtins()
        if name in self._fns:
            return self._fns[name]
        if "." in name:  # a dotted path to user code: "my_pkg.rewards.brevity"
            module, _, attr = name.rpartition(".")
            try:
                return getattr(importlib.import_module(module), attr)
            except (ImportError, AttributeError) as e:
                raise UnknownName(f"cannot import {self.kind} {name!r}: {e}") from None
        raise UnknownName(f"unknown {self.kind} {name!r}; known: {', '.join(self.names())}")

    def names(self) -> list[str]:
        self._load_builtins()
        return sorted(self._fns)

    def __contains__(self, name: str) -> bool:
        self._load_builtins()
        return name in self._fns


REWARDS: Registry = Registry("reward", builtins="rewardkit.rewards")
TASKS: Registry = Registry("task", builtins="rewardkit.tasks")
ADVANTAGES: Registry = Registry("advantage estimator", builtins="rewardkit.advantages")
LOSSES: Registry = Registry("loss", builtins="rewardkit.losses")  # imports torch
