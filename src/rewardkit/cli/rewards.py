"""`rewardkit rewards list | show NAME`: what is registered, and each reward's documentation."""

from __future__ import annotations

import argparse
import inspect

from rewardkit.errors import UserError
from rewardkit.registry import REWARDS, UnknownName


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("rewards", help="list registered rewards or show one's documentation")
    verbs = p.add_subparsers(dest="verb", required=True, metavar="VERB")
    verbs.add_parser("list", help="every reward with a one-line summary").set_defaults(run=_list)
    show = verbs.add_parser("show", help="formula, paper, parameters and example of one reward")
    show.add_argument("name")
    show.set_defaults(run=_show)


def _load() -> None:
    import rewardkit.rewards  # noqa: F401  (registers the built-in rewards)


def summary_line(fn) -> str:
    doc = inspect.getdoc(fn) or ""
    return " ".join(doc.split("\n\n")[0].split())


def _list(args: argparse.Namespace) -> int:
    _load()
    width = max(map(len, REWARDS.names()))
    for name in REWARDS.names():
        print(f"{name:<{width}}  {summary_line(REWARDS.get(name))}")
    return 0


def _show(args: argparse.Namespace) -> int:
    _load()
    try:
        fn = REWARDS.get(args.name)
    except UnknownName as e:
        raise UserError(str(e)) from None
    params = [p for p in inspect.signature(fn).parameters.values()
              if p.kind is inspect.Parameter.KEYWORD_ONLY and p.name != "ctx"]
    print(f"{args.name}  ({fn.__module__}.{fn.__name__})")
    print("parameters: " + (", ".join(
        p.name if p.default is inspect.Parameter.empty else f"{p.name}={p.default!r}"
        for p in params) or "none"))
    if getattr(fn, "update_state", None):
        print("stateful: keeps memory across steps (saved in checkpoints and --save-state)")
    print()
    print(inspect.getdoc(fn) or "(no documentation)")
    return 0
