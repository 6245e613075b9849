"""Chat prompts: a task's chat form (system prompt, data rows given as messages, configurable
instruction) goes through the tokenizer's chat template when it has one, plain text otherwise,
in the sampler that training and eval share."""

from __future__ import annotations

import json

import pytest

from rewardkit.errors import UserError
from rewardkit.prompts import render
from rewardkit.tasks import get_task
from rewardkit.types import Problem

TEMPLATE = "{% for m in messages %}[{{ m['role'] }}]{{ m['content'] }}{% endfor %}A:"


def test_system_prompt_and_instruction_from_task_params():
    task = get_task("gsm8k", {"system_prompt": "Be brief.", "instruction": "Box it."})
    p = Problem("1", "2+2?", "4")
    assert task.messages(p) == [{"role": "system", "content": "Be brief."},
                                {"role": "user", "content": "2+2?\nBox it."}]
    assert task.prompt(p) == "Be brief.\n\n2+2?\nBox it.\n"  # the plain form
    assert get_task("gsm8k", {"instruction": ""}).prompt(p) == "2+2?\n"  # no instruction


def test_default_plain_prompt_is_unchanged():
    from rewardkit.tasks.base import ANSWER_INSTRUCTION

    assert get_task("math").prompt(Problem("1", "x?", "1")) == f"x?\n{ANSWER_INSTRUCTION}\n"


def test_rows_given_as_chat_messages(tmp_path):
    rows = [{"question": [{"role": "system", "content": "S"}, {"role": "user", "content": "Q?"}],
             "answer": "#### 3"},
            {"question": [{"role": "assistant", "content": "hi"}], "answer": "1"}]
    path = tmp_path / "chat.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    task = get_task("gsm8k", {"instruction": "I", "system_prompt": "ignored: the row has one"})
    with pytest.raises(UserError, match=r"chat\.jsonl:2: key 'question': a list prompt"):
        task.load(path)
    [p] = task.load(path, limit=1)
    assert (p.prompt, p.answer) == ("Q?", "3")
    assert task.messages(p) == [{"role": "system", "content": "S"},
                                {"role": "user", "content": "Q?\nI"}]


def test_unknown_task_param_is_a_user_error():
    with pytest.raises(UserError, match="task 'gsm8k' takes prompt_key, answer_key, instruction, "
                                        "system_prompt"):
        get_task("gsm8k", {"instructions": "x"})


torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from rewardkit.models.tiny import build_tiny_model
    from rewardkit.sampling.hf import HFSampler

    torch.set_num_threads(1)
    folder = build_tiny_model(tmp_path_factory.mktemp("tiny"), layers=1, hidden=32, heads=2,
                              seed=0)
    return HFSampler.from_pretrained(str(folder), device="cpu", chat_template=True)


def test_sampler_renders_chat_form_with_a_template_and_plain_text_without(tiny):
    task = get_task("gsm8k", {"system_prompt": "Be brief.", "instruction": "Box it."})
    prompt = task.prompt(Problem("1", "2+2?", "4"))
    tok = tiny.tokenizer
    assert not tok.chat_template  # the tiny tokenizer has none: plain text
    assert tok.decode(tiny.encode(prompt)) == "Be brief.\n\n2+2?\nBox it.\n"
    tok.chat_template = TEMPLATE
    try:
        expected = "[system]Be brief.[user]2+2?\nBox it.A:"
        assert tok.decode(tiny.encode(prompt)) == expected
        assert render(tok, prompt, chat_template=True) == expected  # what vLLM is given
        assert tok.decode(tiny.encode("plain str")) == "[user]plain strA:"  # one user message
        assert render(tok, prompt, chat_template=False) == prompt  # chat_template off
    finally:
        tok.chat_template = None
