"""One rendering of a task's prompt for every sampler: chat template where the tokenizer has one.

A task's prompt is a `str`: its plain-text form. Tasks that have a chat form return a
`ChatPrompt`, a `str` that also carries its chat messages (system prompt, then the user turns).
A sampler with `chat_template` on feeds the model `render(tokenizer, prompt, chat_template=True)`:
the messages (a plain `str` becomes one user message) through the tokenizer's chat template with
the generation prompt, when the tokenizer has a template; the plain text otherwise. Training
rows and eval use the same sampler encoding, so they see the same tokens.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


class ChatPrompt(str):
    """The plain-text form of a prompt (the string itself) with its chat messages.

    >>> p = ChatPrompt("Be brief.\\n\\n2+2?\\n", [{"role": "system", "content": "Be brief."},
    ...                                          {"role": "user", "content": "2+2?"}])
    >>> p.endswith("2+2?\\n"), [m["role"] for m in p.messages]
    (True, ['system', 'user'])
    """

    messages: tuple[dict[str, str], ...]

    def __new__(cls, text: str, messages: Iterable[Mapping[str, str]]) -> ChatPrompt:
        obj = super().__new__(cls, text)
        obj.messages = tuple({"role": str(m["role"]), "content": str(m["content"])}
                             for m in messages)
        return obj

    def __reduce__(self) -> tuple:  # pickles (for worker processes) with its messages
        return ChatPrompt, (str(self), self.messages)


def chat_messages(prompt: str) -> list[dict[str, str]]:
    """The messages of a prompt: a `ChatPrompt`'s own, else the text as one user message.

    >>> chat_messages("2+2?")
    [{'role': 'user', 'content': '2+2?'}]
    """
    messages = getattr(prompt, "messages", None)
    return [dict(m) for m in messages] if messages else [{"role": "user", "content": str(prompt)}]


def has_chat_template(tokenizer: Any) -> bool:
    return bool(getattr(tokenizer, "chat_template", None))


def render(tokenizer: Any, prompt: str, *, chat_template: bool) -> str:
    """The text the model continues: with `chat_template` and a tokenizer that has a template,
    the prompt's messages through it (generation prompt added); else the plain text."""
    if chat_template and has_chat_template(tokenizer):
        return tokenizer.apply_chat_template(chat_messages(prompt), add_generation_prompt=True,
                                             tokenize=False)
    return str(prompt)
