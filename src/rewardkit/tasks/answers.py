"""Short-answer tasks: `choice` (multiple choice), `text` (free text) and `number` (numeric).

They share the answer locator: the last \\boxed{} after </think>; else what follows the last
"answer is" / "answer:" on its line; else, for a short reply (at most `SHORT_REPLY` characters
after </think>), the whole reply. Everything runs in the caller's process (linear-time string
work, no worker needed) and every verdict has status "ok", except a gold that cannot be read:
"unparseable_gold" with `correct=None`, as for math.

Rows (`rewardkit score` and task files alike) carry the gold in `answer`; `choice` may list its
options in `meta.choices` (then the gold may be the option's text, and only those letters are
options), `text` may list more accepted answers in `meta.aliases`, `number` may set a
per-problem `meta.rel_tol`.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from fractions import Fraction
from typing import Any

from rewardkit.registry import TASKS
from rewardkit.tasks.base import _NUMBER, Task, Verdict, answer_region, last_boxed, last_number
from rewardkit.tasks.gsm8k import MAX_DIGITS, VALUE_WORDS, to_number
from rewardkit.types import Problem

SHORT_REPLY = 40
_ANSWER_IS = re.compile(r"answer\s*(?:is|:)\s*:?\s*([^\n]*)", re.IGNORECASE)


def stated_answer(text: str) -> str | None:
    """Where a reply states its answer (see the module docstring); None if it does not.

    >>> stated_answer("<think>hmm</think>So the answer is (B).")
    '(B).'
    >>> stated_answer("\\\\boxed{C}"), stated_answer("Paris"), stated_answer("x " * 40) is None
    ('C', 'Paris', True)
    """
    region = answer_region(text)
    boxed = last_boxed(region)
    if boxed is not None:
        return boxed
    said = _ANSWER_IS.findall(region[-2_000:])
    if said:
        return said[-1].strip()
    region = region.strip()
    return region if 0 < len(region) <= SHORT_REPLY else None


class _StatedAnswerTask(Task):
    """A task judged on the stated answer alone: `triage` locates it once and `judge`s it."""

    def extract_answer(self, text: str) -> str | None:
        return stated_answer(text)

    def judge(self, gold: Any, stated: str | None) -> bool:
        raise NotImplementedError

    def triage(self, gold: Any, text: str) -> tuple[str | None, Verdict]:
        stated = self.extract_answer(text)
        return stated, (self.judge(gold, stated), "ok")

    def check(self, gold: Any, text: str) -> Verdict:
        return self.triage(gold, text)[1]


# ---------------------------------------------------------------------------------------------
# choice

_LETTER = re.compile(r"(?<![A-Za-z\\])\(?([A-Z])\)?(?![A-Za-z'\u2019])")  # not "I'd"
# "A good one", "I think": words, not options. Still options: "A or B" (two), and "A" before
# the words that follow a named option ("A is correct", "A because ...") or after the words
# that name one ("option A", "the answer is A").
_ARTICLE = re.compile(r"(?<![A-Za-z(])([AI])\s+(?!(?:or|and|nor|is|was|seems|looks|fits|"
                      r"matches|because|since|as|with|would|should|must|can|could)\b)[a-z]")
_NEGATED = re.compile(r"\b(?:not|isn't|is not|cannot be|can't be|never)\s*$", re.IGNORECASE)
_LEAD_LETTER = re.compile(r"\s*\(?([A-Z])\)?[.:)]?\s+(.+)", re.DOTALL)  # "(B) its text"
_NAMES_AN_OPTION = re.compile(r"(?:option|choice|answer|is|be|:)\s*$", re.IGNORECASE)


def letters_named(answer: str, options: str) -> list[str]:
    """The distinct option letters a stated answer names, in order.

    >>> letters_named("(B)", "ABCDE"), letters_named("B or D", "ABCDE")
    (['B'], ['B', 'D'])
    >>> letters_named("A good guess is C", "ABCDE"), letters_named("\\\\text{(E)}", "ABCDE")
    (['C'], ['E'])
    >>> letters_named("A because B is wrong", "ABCDE"), letters_named("I'd say B", "ABCDEFGHIJ")
    (['A', 'B'], ['B'])
    >>> letters_named("not A, it's B", "ABCDE"), letters_named("The answer is not B.", "ABCDE")
    (['B'], [])
    """
    words = {m.start(1) for m in _ARTICLE.finditer(answer)
             if not _NAMES_AN_OPTION.search(answer[:m.start(1)])}
    found: list[str] = []
    for m in _LETTER.finditer(answer):
        ruled_out = _NEGATED.search(answer[:m.start()])  # "not B" names no B
        if m.start(1) not in words and not ruled_out and m[1] in options and m[1] not in found:
            found.append(m[1])
    return found


def _as_written(text: str) -> str:
    """Case, spacing and closing punctuation aside (not SQuAD's: its dropped articles would
    make "and B" the option text "A and B")."""
    return " ".join(text.lower().split()).strip(" .,;:!")


class ChoiceTask(_StatedAnswerTask):
    """Multiple choice: correct when the stated answer names exactly the gold letter.

    Accepts "(B)", "B)", "B.", "B", "\\boxed{B}", "the answer is B"; a stated answer naming two
    or more letters ("A or B", "\\boxed{A} ... \\boxed{B}" counts the last box only) is wrong.
    A letter after "not" ("not A, it's B") is ruled out, not named. Options are A-J unless
    `meta.choices` lists them (then A.. for as many as there are); with them, a letter followed
    by its own option's text ("(B) Vitamin C") names that option only.

    >>> t = ChoiceTask(); g = t.gold_of(Problem("p", "q", "B"))
    >>> t.check(g, "\\\\boxed{B}"), t.check(g, "The answer is B or C."), t.check(g, "B)")
    ((True, 'ok'), (False, 'ok'), (True, 'ok'))
    """

    name = "choice"
    default_options = "ABCDEFGHIJ"

    def gold_of(self, problem: Problem) -> Any:
        choices = problem.meta.get("choices")
        options = (string.ascii_uppercase[:len(choices)] if isinstance(choices, list)
                   and 0 < len(choices) <= 26 else self.default_options)
        texts = [str(c).strip() for c in choices] if isinstance(choices, list) else []
        gold = (problem.answer or "").strip()
        if gold in texts:
            return options[texts.index(gold)], options, texts
        named = letters_named(gold, options)
        return (named[0], options, texts) if len(named) == 1 else None

    def judge(self, gold: Any, stated: str | None) -> bool:
        letter, options, texts = gold
        if stated is None:
            return False
        lead = _LEAD_LETTER.match(stated)  # "(B) Vitamin C": a letter and its option's text
        if (lead is not None and lead[1] in options[:len(texts)]
                and _as_written(lead[2]) == _as_written(texts[options.index(lead[1])])):
            return lead[1] == letter
        return letters_named(stated, options) == [letter]


# ---------------------------------------------------------------------------------------------
# text

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = str.maketrans("", "", string.punctuation)
# LaTeX's text and font commands around a boxed answer (their braces go with the punctuation)
_TEXT_COMMAND = re.compile(r"\\(?:text(?:bf|it|rm|sf|tt)?|math(?:rm|bf|it|sf|tt)|emph|mbox|"
                           r"operatorname)\s*\{")


def normalize_text(s: str) -> str:
    """SQuAD's answer normalisation: lower case, no punctuation, no articles, single spaces
    (after dropping LaTeX's text and font commands: `\\textbf{Paris}` is "paris").

    >>> normalize_text("The  Eiffel-Tower!"), normalize_text("\\\\mathrm{Paris}")
    ('eiffeltower', 'paris')
    """
    s = _TEXT_COMMAND.sub(" ", s).lower().translate(_PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", s).split())


def token_f1(prediction: str, gold: str) -> float:
    """SQuAD's token F1 of two answers after `normalize_text`.

    >>> token_f1("the Eiffel tower", "Eiffel Tower in Paris")  # 2 shared; P 2/2, R 2/4
    0.6666666666666666
    """
    pred, ref = normalize_text(prediction).split(), normalize_text(gold).split()
    if not pred or not ref:
        return float(pred == ref)
    shared = sum((Counter(pred) & Counter(ref)).values())
    if shared == 0:
        return 0.0
    precision, recall = shared / len(pred), shared / len(ref)
    return 2 * precision * recall / (precision + recall)


def text_golds(problem: Problem) -> list[str]:
    """The gold answer and its aliases (`meta.aliases`)."""
    aliases = problem.meta.get("aliases") or []
    golds = [problem.answer] if problem.answer is not None else []
    golds += [str(a) for a in aliases] if isinstance(aliases, list) else []
    return [g for g in golds if normalize_text(g)]


class TextTask(_StatedAnswerTask):
    """Short free text: correct when the stated answer equals a gold or an alias after SQuAD's
    normalisation (case, punctuation, articles, whitespace). The `text_f1` reward gives partial
    credit (token F1). Without a box or "answer is", a reply longer than SHORT_REPLY characters
    states no answer.

    >>> t = TextTask(); g = t.gold_of(Problem("p", "q", "Eiffel Tower"))
    >>> t.check(g, "The answer is: the eiffel tower."), t.check(g, "\\\\boxed{Louvre}")
    ((True, 'ok'), (False, 'ok'))
    """

    name = "text"

    def gold_of(self, problem: Problem) -> Any:
        golds = {normalize_text(g) for g in text_golds(problem)}
        return golds or None

    def judge(self, gold: Any, stated: str | None) -> bool:
        return stated is not None and normalize_text(stated) in gold


# ---------------------------------------------------------------------------------------------
# number

_SCIENTIFIC = re.compile(r"(-?\d+(?:\.\d+)?)\s*(?:[eE]|\\times\s*10\^|\*\s*10\^|x\s*10\^)\s*"
                         r"\{?([-+]?\d+)\}?", re.ASCII)


def parse_number(text: str) -> Fraction | None:
    """A number as gsm8k reads it (currency, %, separators, units), or in scientific notation.

    >>> parse_number("1.5e3"), parse_number("2.5 \\\\times 10^{-2}"), parse_number("3 m/s")
    (Fraction(1500, 1), Fraction(1, 40), Fraction(3, 1))
    >>> parse_number("1.5E+03."), parse_number("1" * 5000) is None
    (Fraction(1500, 1), True)
    """
    m = _SCIENTIFIC.fullmatch(text.strip().strip("$").strip().removesuffix(".").strip())
    if m is not None and len(m[1]) <= MAX_DIGITS and abs(int(m[2])) <= 400:
        return Fraction(m[1]) * Fraction(10) ** int(m[2])
    return to_number(text)


class NumberTask(_StatedAnswerTask):
    """Any numeric answer, correct within a relative tolerance:
    |pred - gold| <= rel_tol * |gold| + abs_tol (abs_tol for a gold of 0), in exact arithmetic
    (the tolerances read as the decimals they are written as). Defaults rel_tol=1e-6,
    abs_tol=0; a row's `meta.rel_tol` / `meta.abs_tol` override them. The stated answer, else
    the last number of the reply, is read as gsm8k reads numbers, or in scientific notation;
    a stated answer that is not a number is read as its only number (two numbers, "not" before
    it, or words after it that change its value as in "6 squared": wrong).

    >>> t = NumberTask(); g = t.gold_of(Problem("p", "q", "3.14159", meta={"rel_tol": 1e-3}))
    >>> t.check(g, "\\\\boxed{3.1416}"), t.check(g, "about 3.2")
    ((True, 'ok'), (False, 'ok'))
    """

    name = "number"
    rel_tol = 1e-6
    abs_tol = 0.0

    def gold_of(self, problem: Problem) -> Any:
        value = None if problem.answer is None else parse_number(problem.answer)
        rel = problem.meta.get("rel_tol", self.rel_tol)
        abs_ = problem.meta.get("abs_tol", self.abs_tol)
        ok = all(isinstance(x, (int, float)) and x >= 0 for x in (rel, abs_))
        return (value, float(rel), float(abs_)) if value is not None and ok else None

    def extract_answer(self, text: str) -> str | None:
        return stated_answer(text) or last_number(answer_region(text))

    def judge(self, gold: Any, stated: str | None) -> bool:
        value, rel_tol, abs_tol = gold
        predicted = None if stated is None else parse_number(stated)
        if predicted is None and stated is not None:  # "pi is 3.14": read its only number,
            numbers = list(_NUMBER.finditer(stated))   # unless words change it ("6 squared")
            one = numbers[0] if len(numbers) == 1 else None
            after = " ".join(stated[one.end():].split()[:3]) if one else ""
            predicted = (parse_number(one[0]) if one and not VALUE_WORDS.search(after)
                         and not _NEGATED.search(stated[:one.start()]) else None)  # "not 5"
        if predicted is None:
            return False
        # Exact: floats would overflow (1e400), underflow (1e-330 == 0) and round (19 digits).
        tolerance = Fraction(repr(rel_tol)) * abs(value) + Fraction(repr(abs_tol))
        return abs(predicted - value) <= tolerance


TASKS.register("choice")(ChoiceTask)
TASKS.register("text")(TextTask)
TASKS.register("number")(NumberTask)
