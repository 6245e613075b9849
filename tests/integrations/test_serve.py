"""`rewardkit serve` on 127.0.0.1: OpenRLHF's /get_reward (whole groups out of one-sample
requests), the native /score against `rewardkit score`, 400/401, graceful shutdown and state."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="FastAPI not installed (pip install 'rewardkit[integrations]')")
pytest.importorskip("uvicorn", reason="uvicorn not installed (pip install 'rewardkit[integrations]')")
httpx = pytest.importorskip("httpx", reason="httpx not installed")

import parity  # noqa: E402

HERE = Path(__file__).resolve().parent
SRC = HERE.parents[1] / "src"
PROMPT = "3+4=?\n"


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory) -> Path:
    from rewardkit.models.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tok") / "m", layers=1, hidden=16, heads=2)


class Server:
    def __init__(self, tmp: Path, *args: str) -> None:
        port_file = tmp / f"port-{time.monotonic_ns()}"
        env = os.environ | {"PYTHONPATH": f"{SRC}{os.pathsep}{HERE}", "OMP_NUM_THREADS": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "rewardkit", "serve", "--port", "0", "--port-file",
             str(port_file), *args], env=env, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while not port_file.exists() or not port_file.read_text():
            if self.proc.poll() is not None:
                raise AssertionError(self.proc.stderr.read())
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.05)
        self.url = f"http://127.0.0.1:{port_file.read_text()}"

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=30)


@pytest.fixture
def serve(tmp_path):
    started: list[Server] = []

    def start(*args: str) -> Server:
        started.append(Server(tmp_path, *args))
        return started[-1]

    yield start
    for s in started:
        if s.proc.poll() is None:
            s.proc.kill()
            s.proc.wait()


async def _post_each(url: str, bodies: list[dict], **kw) -> list:
    async with httpx.AsyncClient(timeout=30) as client:
        return await asyncio.gather(*[client.post(url, json=b, **kw) for b in bodies])


def one_sample(response: str, label: str = "7") -> dict:
    """What OpenRLHF sends after each sample: prompt + response with special tokens kept."""
    return {"query": [PROMPT + response], "prompts": [PROMPT], "labels": [label]}


def test_get_reward_scores_whole_groups_of_one_sample_requests(serve, tokenizer_dir):
    s = serve("--task", "arith", "--reward", "accuracy", "--reward", "kimi_length:weight=0.4",
              "--reward", "truncation:weight=0.5", "--tokenizer", str(tokenizer_dir),
              "--max-new-tokens", "8", "--group-size", "3")
    # Character-level tokenizer; <think>, </think>, \boxed{ and <eos> are one token each.
    right = "\\boxed{7}<eos>"                    # 3 + EOS = 4 tokens, stop, correct
    wrong = "<think>3+4=8</think>\\boxed{8}<eos>"  # 10 + EOS = 11 tokens, stop, wrong
    cut = "<think>3+4+3+4"                        # 8 tokens = budget, no EOS: cut off, wrong
    replies = asyncio.run(_post_each(s.url + "/get_reward",
                                     [one_sample(r) for r in (right, wrong, cut)]))
    assert [r.status_code for r in replies] == [200] * 3
    got = [r.json() for r in replies]
    # kimi: L = 4, 11, 8; lam = 0.5 - (L - 4)/7 = 0.5, -0.5, -1/14; wrong ones keep min(0, lam).
    # totals: 1 + 0.4*0.5 = 1.2;  0.4*(-0.5) = -0.2;  0.4*(-1/14) + 0.5*(-1) = -0.528571...
    assert [g["rewards"][0] for g in got] == pytest.approx([1.2, -0.2, -0.4 / 14 - 0.5])
    assert [g["scores"][0] for g in got] == [1.0, 0.0, 0.0]
    assert [g["extra_logs"]["rewardkit/truncation"][0] for g in got] == [0.0, 0.0, -1.0]
    assert all(g["extra_logs"]["rewardkit/group_size"] == [3] for g in got)
    health = httpx.get(s.url + "/health").json()
    assert health["status"] == "ok" and health["pending_groups"] == 0
    assert s.stop() == 0


def test_bad_bodies_get_400_naming_the_field_and_missing_key_401(serve, tokenizer_dir):
    s = serve("--task", "arith", "--reward", "accuracy", "--tokenizer", str(tokenizer_dir),
              "--max-new-tokens", "8", "--api-key", "sesame")
    url = s.url + "/get_reward"
    assert httpx.post(url, json=one_sample("x")).status_code == 401
    assert httpx.post(url, json=one_sample("x"), headers={"X-API-Key": "nope"}).status_code == 401
    ok = httpx.post(url + "?key=sesame", json=one_sample("\\boxed{7}<eos>"))
    assert ok.status_code == 200 and ok.json()["rewards"] == [1.0]
    auth = {"Authorization": "Bearer sesame"}
    cases = [
        (b"{not json", "body: invalid JSON"),
        (json.dumps({"prompts": [], "labels": []}).encode(), "field 'query': missing"),
        (json.dumps({"query": "q", "prompts": [], "labels": []}).encode(), "field 'query': expected a list"),
        (json.dumps({"query": ["a"], "prompts": ["a", "b"], "labels": ["1"]}).encode(), "field 'prompts': 2 items"),
        (json.dumps({"query": [1], "prompts": ["a"], "labels": ["1"]}).encode(), "field 'query'[0]"),
    ]
    for body, message in cases:
        r = httpx.post(url, content=body, headers=auth)
        assert r.status_code == 400 and message in r.json()["error"], (body, r.text)
    r = httpx.post(s.url + "/score", json=[{"prompt": "p", "completions": [{"text": "", "num_tokens": 0}]}],
                   headers=auth)
    assert r.status_code == 400 and "'max_new_tokens'" in r.json()["error"]
    assert httpx.get(s.url + "/health").status_code == 200  # health needs no key
    assert s.stop() == 0


def test_score_endpoint_equals_rewardkit_score_and_state_survives_restart(serve, tmp_path):
    want = parity.expected_from_score(tmp_path)
    args = ["--task", parity.TASK] + [a for spec in parity.REWARDS for a in ("--reward", spec)]
    state = tmp_path / "state.json"
    first = serve(*args, "--save-state", str(state))
    got = []
    for batch in parity.steps()[:2]:
        r = httpx.post(first.url + "/score", json=batch, timeout=30)
        assert r.status_code == 200, r.text
        got.append([c["rewards"] for line in r.json() for c in line["completions"]])
    assert first.stop() == 0 and state.exists()  # state written on shutdown
    second = serve(*args, "--load-state", str(state))
    r = httpx.post(second.url + "/score", json=parity.steps()[2], timeout=30)
    got.append([c["rewards"] for line in r.json() for c in line["completions"]])
    for step, (g_rows, w_rows) in enumerate(zip(got, want)):
        for i, (g, w) in enumerate(zip(g_rows, w_rows)):
            for label in parity.LABELS:
                assert parity.close(g[label], w[label]), (step, i, label, g[label], w[label])
    assert second.stop() == 0


def test_shutdown_answers_a_waiting_partial_group_and_leaves_no_process(serve, tokenizer_dir):
    s = serve("--task", "arith", "--reward", "accuracy", "--reward", "kimi_length",
              "--tokenizer", str(tokenizer_dir), "--max-new-tokens", "8", "--group-size", "4",
              "--group-wait-s", "600")

    async def request_then_stop():
        async with httpx.AsyncClient(timeout=30) as client:
            pending = asyncio.ensure_future(client.post(s.url + "/get_reward",
                                                        json=one_sample("\\boxed{7}<eos>")))
            await asyncio.sleep(0.5)  # the request now waits for 3 more samples of its group
            s.proc.send_signal(signal.SIGTERM)
            return await pending

    reply = asyncio.run(request_then_stop())
    assert reply.status_code == 200  # scored as a partial group of 1 instead of waiting 600 s
    assert reply.json()["rewards"] == [1.0]
    assert reply.json()["extra_logs"]["rewardkit/group_size"] == [1]
    assert s.proc.wait(timeout=30) == 0
    # It said where it listens once it did (uvicorn's own line is below its log level).
    assert f"rewardkit: serving on {s.url} (Ctrl-C to stop)" in s.proc.stderr.read()


@pytest.mark.parametrize("argv, message", [
    (["--task", "nope", "--reward", "accuracy"], "--task: unknown task 'nope'"),
    (["--task", "arith", "--reward", "nope"], "--reward: unknown reward 'nope'"),
    (["--task", "arith", "--reward", "accuracy:weight=x"], "--reward: bad reward spec"),
    (["--task", "arith", "--reward", "kimi_length:bogus=1"], "unexpected keyword argument 'bogus'"),
    (["--task", "arith", "--reward", "accuracy", "--group-size", "0"], "--group-size must be >= 1"),
    (["--task", "arith", "--reward", "accuracy", "--tokenizer", "./nowhere"], "--tokenizer needs --max-new-tokens"),
    (["--task", "arith", "--reward", "accuracy", "--tokenizer", "./nowhere", "--max-new-tokens", "8"],
     "--tokenizer: no such directory"),
    (["--task", "arith", "--reward", "accuracy", "--port", "70000"], "--port must be in 0..65535"),
])
def test_bad_arguments_are_one_line_and_exit_2(argv, message, capsys):
    from rewardkit.cli.main import main

    assert main(["serve", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_local_reward_func_groups_calls_from_worker_threads(tokenizer_dir):
    """OpenRLHF's `reward_func(queries, prompts, labels)` form: one sample per call, from
    threads (asyncio.to_thread); each call returns once its group of 3 is scored."""
    from concurrent.futures import ThreadPoolExecutor

    from rewardkit.integrations.openrlhf import make_reward_func

    reward_func = make_reward_func("arith", ["accuracy", "kimi_length:weight=0.4",
                                             "truncation:weight=0.5"],
                                   tokenizer=str(tokenizer_dir), max_new_tokens=8, group_size=3)
    replies = ["\\boxed{7}<eos>", "<think>3+4=8</think>\\boxed{8}<eos>", "<think>3+4+3+4"]
    with ThreadPoolExecutor(3) as pool:
        outs = list(pool.map(lambda r: reward_func([PROMPT + r], [PROMPT], ["7"]), replies))
    # Same group as test_get_reward_scores_whole_groups_of_one_sample_requests (worked there).
    assert [float(o["rewards"][0]) for o in outs] == pytest.approx([1.2, -0.2, -0.4 / 14 - 0.5])
    assert [float(o["scores"][0]) for o in outs] == [1.0, 0.0, 0.0]
    assert reward_func.scorer.state_dict()["steps_done"] == 1


def test_token_counter_when_the_query_does_not_start_with_the_prompt_text(tokenizer_dir):
    from rewardkit.integrations.openrlhf import TokenCounter

    counter = TokenCounter(str(tokenizer_dir), max_new_tokens=8)
    # The prompt as the client wrote it ("3+4=? ") differs from the decoded query's prefix
    # ("3+4=?\n"); both are 6 characters = 6 tokens, so the response is what follows them.
    s = counter.sample("3+4=?\n\\boxed{7}<eos>", "3+4=? ", "7")
    assert (s.text, s.num_tokens, s.finish_reason) == ("\\boxed{7}", 4, "stop")  # 3 + EOS


def test_get_reward_logs_zero_not_null_for_openrlhf_unless_asked(serve, tokenizer_dir):
    """OpenRLHF does torch.tensor([value]) on every extra_logs value: a null would crash it."""
    s = serve("--task", "arith", "--reward", "accuracy", "--tokenizer", str(tokenizer_dir),
              "--max-new-tokens", "8")
    unjudged = one_sample("\\boxed{4}<eos>", label="four")  # arith cannot parse this gold
    got = httpx.post(s.url + "/get_reward", json=unjudged).json()
    assert got["rewards"] == [0.0] and got["extra_logs"]["rewardkit/accuracy"] == [0.0]
    assert got["extra_logs"]["rewardkit/judged"] == [0]
    got = httpx.post(s.url + "/get_reward", json=unjudged | {"keep_nulls": True}).json()
    assert got["extra_logs"]["rewardkit/accuracy"] == [None]
    assert s.stop() == 0


def test_groups_per_step_learns_once_per_training_step(serve):
    """One-sample requests, groups of 4, 3 prompts per step: with --groups-per-step 3 every
    group of a step is scored with the state of earlier steps, as in training."""
    s = serve("--task", parity.TASK, "--reward", "accuracy", "--reward", "helpers.novelty",
              "--max-new-tokens", str(parity.BUDGET), "--group-size", "4",
              "--groups-per-step", "3")
    novelty = []
    for step, lines in enumerate(parity.steps()[:2]):
        bodies = [{"query": [c["text"]], "prompts": [line["prompt"]], "labels": [line["answer"]],
                   "responses": [c["text"]], "num_tokens": [c["num_tokens"]],
                   "finish_reasons": [c["finish_reason"]], "group_ids": [f"{step}-{line['id']}"]}
                  for line in lines for c in line["completions"]]
        replies = asyncio.run(_post_each(s.url + "/get_reward", bodies))
        novelty.append([r.json()["extra_logs"]["rewardkit/helpers.novelty"][0] for r in replies])
    # novelty = 1/(1 + completions learned from in earlier steps): 0 before step 0, 12 before
    # step 1, for every group of the step (learning per group would give 1/13, 1/17, 1/21).
    assert novelty[0] == [1.0] * 12
    assert novelty[1] == pytest.approx([1 / 13] * 12)
    assert httpx.get(s.url + "/health").json()["steps_done"] == 2
    assert s.stop() == 0
