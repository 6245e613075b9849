r"""`rewardkit serve`: rewardkit's rewards over HTTP, for OpenRLHF and any other client.

    rewardkit serve --task math --reward accuracy --reward kimi_length:weight=0.4 \
        --tokenizer ./policy --max-new-tokens 1024 --group-size 8 --groups-per-step 128

Endpoints (JSON; bound to 127.0.0.1 unless --host says otherwise):

  POST /get_reward  OpenRLHF's remote reward protocol: {"query": [...], "prompts": [...],
                    "labels": [...]} -> {"rewards": [...], "scores": [...], "extra_logs": {...}}.
                    Groups form by prompt text, `--group-size` samples each (OpenRLHF's
                    --rollout.n_samples_per_prompt); see rewardkit/integrations/openrlhf.py
                    for partial groups, token counts and truncation. Optional fields for
                    clients that have the token ids (rewardkit's verl reward-loop manager):
                    "responses", "num_tokens", "finish_reasons" (all three; then no tokenizer
                    is needed), "group_ids" (group by these instead of the prompt) and
                    "keep_nulls": true (extra_logs keep null where a reward does not apply;
                    OpenRLHF needs numbers, so by default those are 0.0).
  POST /score       the `rewardkit score` format: a JSON array of group objects (one JSONL line
                    each) -> the same objects with per-completion correct/status/rewards/reward,
                    as `rewardkit score` writes them. Groups of one step form one batch.
  GET  /health      {"status": "ok", ...}; never needs the API key.

With --api-key (or REWARDKIT_API_KEY) every POST needs `Authorization: Bearer KEY`,
`X-API-Key: KEY` or `?key=KEY` (OpenRLHF sends no headers: put the key in its URL), else 401.
A malformed body gets 400 with a message naming the field. Ctrl-C / SIGTERM: stops accepting,
scores the partial groups still waiting, finishes in-flight requests, writes --save-state.
"""

# No `from __future__ import annotations`: FastAPI reads the handlers' annotations (Request)
# at runtime, and Request is imported where the app is built.

import argparse
import asyncio
import hmac
import json
import os
import sys
from pathlib import Path
from typing import Any

from rewardkit.errors import UserError

API_KEY_ENV = "REWARDKIT_API_KEY"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="serve rewards over HTTP (OpenRLHF /get_reward, /score)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", required=True, help="task whose verifier judges correctness")
    p.add_argument("--reward", action="append", required=True, metavar="SPEC",
                   help="NAME or NAME:key=value,...,weight=w (repeatable)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=5000, help="port (default 5000; 0 = any free)")
    p.add_argument("--tokenizer", help="policy tokenizer directory (token counts for /get_reward)")
    p.add_argument("--max-new-tokens", type=int, help="sampling budget (truncation, /get_reward)")
    p.add_argument("--group-size", type=int, default=1,
                   help="completions per prompt (OpenRLHF n_samples_per_prompt; default 1)")
    p.add_argument("--groups-per-step", type=int, default=1,
                   help="groups per training step: stateful rewards learn once per this many "
                        "(OpenRLHF --rollout.batch_size; default 1)")
    p.add_argument("--group-wait-s", type=float, default=60.0,
                   help="score a partial group after this many seconds (default 60)")
    p.add_argument("--api-key", help=f"require this key on POSTs (or set {API_KEY_ENV})")
    p.add_argument("--load-state", type=Path, help="reward state to start from")
    p.add_argument("--save-state", type=Path, help="write the reward state here on shutdown")
    p.add_argument("--verify-timeout-s", type=float, help="deadline per verification")
    p.add_argument("--port-file", type=Path, help="write the bound port here once listening")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        import uvicorn
    except ImportError:
        raise UserError("rewardkit serve needs FastAPI and uvicorn: "
                        "pip install 'rewardkit[integrations]'") from None
    server = build_server(args)
    app = server.app
    config = uvicorn.Config(app, host=args.host, port=args.port, log_level="warning",
                            timeout_graceful_shutdown=max(5.0, args.group_wait_s + 5.0))
    _make_graceful()(config, server).run()
    return 0


def build_server(args: argparse.Namespace) -> "RewardServer":
    """Check every argument (before loading a tokenizer) and build the app."""
    from rewardkit.integrations.core import EngineScorer
    from rewardkit.integrations.openrlhf import TokenCounter

    if not 0 <= args.port <= 65535:
        raise UserError(f"--port must be in 0..65535, got {args.port}")
    if args.group_size < 1:
        raise UserError(f"--group-size must be >= 1, got {args.group_size}")
    if args.groups_per_step < 1:
        raise UserError(f"--groups-per-step must be >= 1, got {args.groups_per_step}")
    if not args.group_wait_s > 0:
        raise UserError(f"--group-wait-s must be > 0, got {args.group_wait_s}")
    if args.tokenizer is not None and args.max_new_tokens is None:
        raise UserError("--tokenizer needs --max-new-tokens (the budget that tells a cut-off "
                        "reply from a finished one)")
    if args.tokenizer is not None and args.tokenizer.startswith(("/", ".")) \
            and not Path(args.tokenizer).is_dir():
        raise UserError(f"--tokenizer: no such directory: {args.tokenizer}")
    if args.verify_timeout_s is not None and not args.verify_timeout_s > 0:
        raise UserError(f"--verify-timeout-s must be > 0, got {args.verify_timeout_s}")
    if args.max_new_tokens is not None and args.max_new_tokens < 1:
        raise UserError(f"--max-new-tokens must be >= 1, got {args.max_new_tokens}")
    from rewardkit.scoring import read_state  # the same state file as `score --load-state`

    state = read_state(args.load_state) if args.load_state else None
    from rewardkit.integrations.core import resolve_task

    try:
        task = resolve_task(args.task)
    except UserError as e:
        raise UserError(f"--task: {e.message.removeprefix('task: ')}") from None
    try:
        scorer = EngineScorer(task, args.reward, timeout_s=args.verify_timeout_s)
    except UserError as e:
        raise UserError(f"--reward: {e.message}") from None
    if state is not None:
        scorer.load_state_dict(state)
    counter = (TokenCounter(args.tokenizer, args.max_new_tokens)
               if args.tokenizer is not None else None)
    key = args.api_key or os.environ.get(API_KEY_ENV) or None
    return RewardServer(scorer, counter, max_new_tokens=args.max_new_tokens,
                        group_size=args.group_size, groups_per_step=args.groups_per_step,
                        wait_s=args.group_wait_s,
                        api_key=key, save_state=args.save_state, port_file=args.port_file)



class RewardServer:
    """The FastAPI app and what it needs at shutdown."""

    def __init__(self, scorer: Any, counter: Any, *, max_new_tokens: "int | None",
                 group_size: int, groups_per_step: int, wait_s: float,
                 api_key: "str | None", save_state: "Path | None",
                 port_file: "Path | None") -> None:
        self.scorer, self.counter, self.api_key = scorer, counter, api_key
        self.max_new_tokens = max_new_tokens
        self.group_size, self.wait_s = group_size, wait_s
        self.groups_per_step = groups_per_step
        self.save_state, self.port_file = save_state, port_file
        self.grouper: Any = None
        self.requests = 0
        self.app = self._build()

    def _build(self):
        from contextlib import asynccontextmanager

        from fastapi import FastAPI, Request
        from fastapi.responses import JSONResponse

        from rewardkit.integrations.openrlhf import (
            BadRequest,
            Grouper,
            parse_get_reward,
            parse_group_ids,
            parse_known_lengths,
        )

        @asynccontextmanager
        async def lifespan(app):
            budget = self.max_new_tokens or 1  # /get_reward refuses to run without it
            self.grouper = Grouper(self.scorer, group_size=self.group_size, wait_s=self.wait_s,
                                   max_new_tokens=budget, groups_per_step=self.groups_per_step)
            yield
            self.grouper.flush()
            await asyncio.sleep(0)
            async with self.grouper.lock:
                self.grouper.learn()  # the unfinished step's groups
            self.write_state()

        app = FastAPI(title="rewardkit serve", lifespan=lifespan)

        def denied(request: Request):
            if self.api_key is None:
                return None
            auth = request.headers.get("authorization", "")
            if auth.lower().startswith("bearer "):
                given = auth[len("bearer "):]
            else:
                given = (request.headers.get("x-api-key") or request.query_params.get("key")
                         or "")
            if hmac.compare_digest(given.encode(), self.api_key.encode()):
                return None
            return JSONResponse({"error": "missing or wrong API key"}, status_code=401)

        async def body_of(request: Request) -> Any:
            try:
                return json.loads(await request.body())
            except (json.JSONDecodeError, UnicodeDecodeError) as e:
                raise BadRequest(f"body: invalid JSON ({e})") from None

        @app.get("/health")
        async def health():
            return {"status": "ok", "task": self.scorer.task.name, "rewards": self.scorer.labels,
                    "weights": self.scorer.weights, "group_size": self.group_size,
                    "pending_groups": len(self.grouper.pending) if self.grouper else 0,
                    "partial_groups": self.grouper.partial_groups if self.grouper else 0,
                    "requests": self.requests, "steps_done": self.scorer.steps_done}

        @app.post("/get_reward")
        async def get_reward(request: Request):
            if (resp := denied(request)) is not None:
                return resp
            try:
                body = await body_of(request)
                queries, prompts, labels = parse_get_reward(body)
                samples = parse_known_lengths(body, len(queries))
                group_ids = parse_group_ids(body, len(queries))
                if self.max_new_tokens is None:
                    raise BadRequest("server: started without --max-new-tokens, which "
                                     "/get_reward needs (truncation, length rewards)")
                if samples is None and self.counter is None:
                    raise BadRequest("field 'num_tokens': missing, and the server has no "
                                     "--tokenizer to count the response's tokens")
            except BadRequest as e:
                return JSONResponse({"error": str(e)}, status_code=400)
            from rewardkit.integrations.openrlhf import response_body

            self.requests += 1
            if samples is None:
                samples = [self.counter.sample(q, p, lab) for q, p, lab in
                           zip(queries, prompts, labels)]
            keep_nulls = body.get("keep_nulls") is True
            return response_body(await self.grouper.submit(samples, group_ids),
                                 keep_nulls=keep_nulls)

        @app.post("/score")
        async def score(request: Request):
            if (resp := denied(request)) is not None:
                return resp
            try:
                records = _parse_score_body(await body_of(request), self.scorer.task.name)
            except (BadRequest, UserError) as e:
                return JSONResponse({"error": str(e)}, status_code=400)
            self.requests += 1
            return await _score_records(self, records)

        return app

    def write_state(self) -> None:
        if self.save_state is not None:
            from rewardkit.fileio import atomic_write

            with atomic_write(self.save_state) as f:
                json.dump(self.scorer.state_dict(), f, indent=1)


def _parse_score_body(body: Any, task: str) -> list:
    from rewardkit.integrations.openrlhf import BadRequest
    from rewardkit.rollouts import parse_record

    if not isinstance(body, list) or not body:
        raise BadRequest("body: expected a non-empty JSON array of groups (score format)")
    return [parse_record(raw, where=f"body[{i}]", index=i, task=task)
            for i, raw in enumerate(body)]


async def _score_records(server: "RewardServer", records: list) -> list:
    """`rewardkit score` over the records: lines of one step form one batch, state carried."""
    from rewardkit.rewards.combine import nan_to_none
    from rewardkit.rollouts import batches_by_step

    out = []
    try:
        batches = list(batches_by_step(records))
    except UserError as e:
        from fastapi.responses import JSONResponse

        return JSONResponse({"error": str(e)}, status_code=400)
    for batch in batches:
        groups = await asyncio.to_thread(server.scorer.verify, [r.group for r in batch])
        async with server.grouper.lock:
            scores, totals = server.scorer.score_groups(groups, step=batch[0].step)
        for rec, group, s, t in zip(batch, groups, scores, totals):
            line = dict(rec.raw)
            line["completions"] = [
                {**raw_c, "correct": group.correct[i], "status": group.status[i],
                 "rewards": {lab: nan_to_none(v) for lab, v in zip(server.scorer.labels, s[i])},
                 "reward": nan_to_none(t[i])}
                for i, raw_c in enumerate(rec.raw["completions"])]
            out.append(line)
    return out


def _make_graceful():
    import uvicorn

    class GracefulServer(uvicorn.Server):
        """uvicorn's server that, on Ctrl-C/SIGTERM, first answers requests waiting for a group
        (scoring the partial groups) so its graceful shutdown can finish them."""

        def __init__(self, config, reward_server: "RewardServer") -> None:
            super().__init__(config)
            self.reward_server = reward_server

        def handle_exit(self, sig, frame) -> None:
            grouper = self.reward_server.grouper
            loop = getattr(self, "_loop", None)
            if grouper is not None and loop is not None:
                loop.call_soon_threadsafe(grouper.flush)
            super().handle_exit(sig, frame)
            # uvicorn re-raises the signal after its graceful shutdown (exit 143 for SIGTERM);
            # a shutdown that finished its work is a clean exit here.
            self._captured_signals.clear()

        async def startup(self, sockets=None) -> None:
            self._loop = asyncio.get_running_loop()
            await super().startup(sockets)
            if not self.servers:  # startup failed (uvicorn has said why)
                return
            host, port = self.servers[0].sockets[0].getsockname()[:2]
            if self.reward_server.port_file is not None:
                self.reward_server.port_file.write_text(str(port))
            # uvicorn's own "running on" line is below the warning level it runs at
            print(f"rewardkit: serving on http://{host}:{port} (Ctrl-C to stop)", file=sys.stderr,
                  flush=True)

    return GracefulServer
