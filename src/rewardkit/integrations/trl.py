"""rewardkit rewards inside TRL's `GRPOTrainer`: whole groups, token counts, truncation, state.

    from rewardkit.integrations.trl import make_reward_funcs

    funcs = make_reward_funcs("math", ["accuracy", "kimi_length:weight=0.4"])
    trainer = GRPOTrainer(model=..., train_dataset=ds,   # columns: prompt, answer (, id)
                          reward_funcs=funcs, callbacks=[funcs.callback],
                          args=GRPOConfig(..., reward_weights=funcs.weights))

One callable per configured reward, named after it, so TRL logs `rewards/<name>/mean`. TRL calls
each with the process's local slice of the batch; the first callable of a batch does the work
for all of them:

1. builds a `Sample` per completion: token count = len(completion_ids) (EOS included, as in
   `rewardkit train`); finish_reason "length" when the count reached `max_completion_length`
   and the last id is not an EOS id (TRL's own `mask_truncated_completions` test);
2. verifies the local completions once (`rewardkit.verify_groups`), so each completion is
   judged by exactly one process;
3. gathers samples and verdicts from all processes (accelerate `gather_object`), forms groups of
   `num_generations` consecutive completions of the global batch (TRL's own grouping), scores
   every group with every reward - identically on every process, so reward state stays in step
   without broadcasting it - and keeps its own slice;
4. in training (the model is in train mode), lets stateful rewards learn from the batch.

The callback (`funcs.callback`, required) reads `num_generations`, `max_completion_length`, the
EOS ids and the model from the trainer, saves the reward state in every checkpoint's
`trainer_state.json` (TRL's `stateful_callbacks`) and restores it on `resume_from_checkpoint`.
With `restore_callback_states_from_checkpoint=True`, transformers replaces the callback by one
rebuilt from the checkpoint, which binds to the newest reward functions made in this process.
A reward that does not apply (a verdict of None) is returned as None: TRL's "does not apply".
"""

from __future__ import annotations

import hashlib
import itertools
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from rewardkit.errors import UserError
from rewardkit.integrations.core import EngineScorer, RewardLike, Sample, Scored, finish_reason
from rewardkit.rewards.combine import nan_to_none
from rewardkit.tasks.base import Task

try:  # TRL's callbacks are transformers' TrainerCallback
    from transformers import TrainerCallback
    from transformers.trainer_callback import ExportableState
except ImportError:  # pragma: no cover - transformers is in the `train` extra
    TrainerCallback = ExportableState = object  # type: ignore[misc,assignment]

# Every live set of reward functions, by creation order: a callback that transformers rebuilt
# from a checkpoint (`restore_callback_states_from_checkpoint`) binds to the newest one.
_LIVE: weakref.WeakValueDictionary[int, _TrlRewards] = weakref.WeakValueDictionary()
_COUNTER = itertools.count()


class RewardFuncs(list):
    """The callables for `GRPOTrainer(reward_funcs=...)`, plus `callback` and `weights`."""

    callback: RewardkitCallback
    weights: list[float]


def make_reward_funcs(task: str | Task, rewards: Sequence[RewardLike], *,
                      answer_column: str = "answer", id_column: str = "id",
                      num_generations: int | None = None,
                      max_completion_length: int | None = None,
                      eos_token_ids: Sequence[int] | None = None,
                      timeout_s: float | None = None) -> RewardFuncs:
    """One TRL reward function per reward in `rewards` (spec strings as in `rewardkit score`).

    `answer_column` names the dataset column with the gold answer, `id_column` the one that
    identifies a problem across steps (HAPO's history; without it the prompt text does).
    `num_generations`, `max_completion_length` and `eos_token_ids` default to the trainer's
    (read by `callback`); give them to use the functions without a trainer.
    """
    for key, value in (("num_generations", num_generations),
                       ("max_completion_length", max_completion_length)):
        if value is not None and (not isinstance(value, int) or value < 1):
            raise UserError(f"make_reward_funcs: {key} must be an integer >= 1, got {value!r}")
    if timeout_s is not None and not timeout_s > 0:
        raise UserError(f"make_reward_funcs: timeout_s must be > 0, got {timeout_s!r}")
    shared = _TrlRewards(EngineScorer(task, rewards, timeout_s=timeout_s),
                         answer_column=answer_column, id_column=id_column,
                         num_generations=num_generations,
                         max_completion_length=max_completion_length,
                         eos_token_ids=eos_token_ids)
    funcs = RewardFuncs(shared.func(k) for k in range(len(shared.scorer.labels)))
    funcs.callback = RewardkitCallback()
    funcs.callback.bind(shared)
    funcs.weights = shared.scorer.weights
    return funcs


class _TrlRewards:
    """State shared by one `make_reward_funcs` call's callables and callback."""

    def __init__(self, scorer: EngineScorer, *, answer_column: str, id_column: str,
                 num_generations: int | None, max_completion_length: int | None,
                 eos_token_ids: Sequence[int] | None) -> None:
        self.scorer = scorer
        self.answer_column, self.id_column = answer_column, id_column
        self.num_generations = num_generations
        self.num_generations_eval: int | None = None
        self.max_completion_length = max_completion_length
        self.eos_token_ids = set(eos_token_ids or ())
        self.model: Any = None
        self._last: tuple[str, Scored] | None = None
        _LIVE[next(_COUNTER)] = self

    def func(self, k: int) -> Callable[..., list[float | None]]:
        def reward(prompts: list, completions: list, completion_ids: list[list[int]],
                   trainer_state: Any = None, **columns: Any) -> list[float | None]:
            scored = self.scored(prompts, completions, completion_ids, trainer_state, columns)
            return [nan_to_none(x) for x in scored.rewards[:, k]]

        reward.__name__ = reward.__qualname__ = self.scorer.labels[k]
        return reward

    # -- one batch ----------------------------------------------------------------------------
    def scored(self, prompts: list, completions: list, completion_ids: list[list[int]],
               trainer_state: Any, columns: Mapping[str, Any]) -> Scored:
        """This process's slice of the batch's scores, computed once per batch."""
        step = int(getattr(trainer_state, "global_step", 0) or 0)
        key = _fingerprint(step, completion_ids)
        if self._last is not None and self._last[0] == key:
            return self._last[1]
        scored = self._score(prompts, completions, completion_ids, step, columns)
        self._last = (key, scored)
        return scored

    def _score(self, prompts: list, completions: list, completion_ids: list[list[int]],
               step: int, columns: Mapping[str, Any]) -> Scored:
        training = self.model is None or bool(getattr(self.model, "training", True))
        size = self.num_generations if training else (self.num_generations_eval
                                                      or self.num_generations)
        budget = self.max_completion_length
        if size is None or budget is None:
            raise UserError("rewardkit TRL reward functions need num_generations and "
                            "max_completion_length: pass callbacks=[funcs.callback] to the "
                            "trainer, or give them to make_reward_funcs")
        local = [self._sample(i, prompts, completions, completion_ids, columns, budget)
                 for i in range(len(prompts))]
        # Verify here, only this process's completions, in runs of the same problem.
        verified = self.scorer.verify(_runs(local, budget))
        # everything verify_groups decided: verdict, status, extracted answer, graded score
        verdicts = [(g.correct[j], g.status[j], g.answers[j] if g.answers else None,
                     g.scores[j] if g.scores else None)
                    for g in verified for j in range(len(g))]
        world, rank = _gather(list(zip(local, verdicts)))
        samples = [s for part in world for s, _ in part]
        judged = [v for part in world for _, v in part]
        if len(samples) % size:
            raise UserError(f"TRL batch of {len(samples)} completions is not whole groups of "
                            f"num_generations={size}")
        keys = [i // size for i in range(len(samples))]  # TRL: G consecutive = one prompt

        def with_verdicts(groups):
            out, i = [], 0
            for g in groups:
                correct, status, answers, scores = zip(*judged[i:i + len(g)])
                graded = any(x is not None for x in scores)
                out.append(g.with_verdicts(correct, status, answers, scores if graded else ()))
                i += len(g)
            return out

        full = self.scorer.score_batch(samples, keys, max_new_tokens=budget, step=step,
                                       learn=training, verified=with_verdicts)
        mine = slice(rank * len(local), (rank + 1) * len(local))  # TRL's process_slice
        return Scored(full.rewards[mine], full.totals[mine], full.correct[mine],
                      full.status[mine], full.labels)

    def _sample(self, i: int, prompts: list, completions: list, ids: list[list[int]],
                columns: Mapping[str, Any], budget: int) -> Sample:
        if self.answer_column not in columns:
            raise UserError(f"TRL dataset has no column {self.answer_column!r} (the gold "
                            f"answer); columns: {', '.join(sorted(columns)) or 'none'}; set "
                            "make_reward_funcs(answer_column=...)")
        answer = columns[self.answer_column][i]
        pid = columns[self.id_column][i] if self.id_column in columns else None
        n = len(ids[i])
        ended = n > 0 and ids[i][-1] in self.eos_token_ids
        return Sample(prompt=_text(prompts[i]), text=_text(completions[i]), num_tokens=n,
                      finish_reason=finish_reason(n, budget, ended),
                      answer=None if answer is None else str(answer),
                      problem_id=None if pid is None else str(pid))


def _runs(samples: Sequence[Sample], budget: int):
    """Consecutive samples of one prompt as (partial) groups, for verification only."""
    from rewardkit.integrations.core import groups_from_samples

    keys, run = [], 0
    for i, s in enumerate(samples):
        if i and (s.prompt, s.answer) != (samples[i - 1].prompt, samples[i - 1].answer):
            run += 1
        keys.append(run)
    return groups_from_samples(samples, keys, max_new_tokens=budget)[0]


def _text(x: Any) -> str:
    """A completion or prompt as text: a string, or the last message of a conversation."""
    if isinstance(x, str):
        return x
    if isinstance(x, list) and x and isinstance(x[-1], Mapping):
        content = x[-1].get("content", "")
        return content if isinstance(content, str) else str(content)
    return str(x)


def _fingerprint(step: int, completion_ids: list[list[int]]) -> str:
    h = hashlib.blake2b(repr((step, completion_ids)).encode(), digest_size=16)
    return h.hexdigest()


def _gather(local: list) -> tuple[list[list], int]:
    """Every process's list, in rank order, and this process's rank (1 process: no gather)."""
    try:
        from accelerate.state import PartialState
    except ImportError:  # pragma: no cover
        return [local], 0
    state = PartialState()
    if state.num_processes == 1:
        return [local], 0
    from accelerate.utils import gather_object

    return gather_object([local]), state.process_index


class RewardkitCallback(TrainerCallback, ExportableState):
    """Connects the reward functions to the trainer and keeps their state in checkpoints."""

    def __init__(self) -> None:
        self._shared: _TrlRewards | None = None

    def bind(self, shared: _TrlRewards) -> None:
        self._shared = shared

    @property
    def shared(self) -> _TrlRewards:
        if self._shared is None:
            # Rebuilt by transformers from a checkpoint: the reward functions made last are the
            # ones the new trainer was given (they are made before the trainer).
            if not _LIVE:
                raise UserError("RewardkitCallback: no reward functions; pass the callback "
                                "that make_reward_funcs returned (funcs.callback)")
            self._shared = _LIVE[max(_LIVE)]
        return self._shared

    def _configure(self, args: Any, model: Any, processing_class: Any) -> None:
        shared = self.shared
        shared.num_generations = shared.num_generations or getattr(args, "num_generations", None)
        shared.num_generations_eval = getattr(args, "num_generations_eval", None)
        shared.max_completion_length = (shared.max_completion_length
                                        or getattr(args, "max_completion_length", None))
        if model is not None:
            shared.model = model
            gen = getattr(model, "generation_config", None)
            eos = getattr(gen, "eos_token_id", None)
            shared.eos_token_ids.update([eos] if isinstance(eos, int) else (eos or []))
        eos = getattr(processing_class, "eos_token_id", None)
        if eos is not None:
            shared.eos_token_ids.add(int(eos))

    def on_init_end(self, args, state, control, model=None, processing_class=None, **kwargs):
        self._configure(args, model, processing_class)

    def on_train_begin(self, args, state, control, model=None, processing_class=None, **kwargs):
        self._configure(args, model, processing_class)
        saved = (state.stateful_callbacks or {}).get(type(self).__name__)
        if isinstance(saved, list):
            saved = saved[-1] if saved else None
        reward_state = (saved or {}).get("attributes", {}).get("reward_state")
        if reward_state is not None:  # resumed from a checkpoint that carried our state
            self.shared.scorer.load_state_dict(reward_state)
            self.shared._last = None

    def state(self) -> dict:
        """Saved in trainer_state.json; `on_train_begin` reads it back on resume."""
        return {"args": {},
                "attributes": {"reward_state": self.shared.scorer.state_dict()}}
