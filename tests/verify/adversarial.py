"""Replies that hang or blow up answer parsers (RELIABILITY.md §3), for the adversarial tests.

Each entry is a whole reply; most put the hostile part in a \\boxed{} so the checker must look at
it. Built from hand-written families; the sizes are what made math-verify/sympy hang or crawl.
"""

from __future__ import annotations


def _boxed(s: str) -> str:
    return f"<think>work</think> The answer is \\boxed{{{s}}}"


def power_towers() -> list[str]:
    out = []
    for base in ("9", "10", "2", "7", "99", "x"):
        for height in (3, 5):
            tower = base + "".join("^{" + base for _ in range(height - 1)) + "}" * (height - 1)
            out.append(_boxed(tower))
    return out  # 12


def huge_numbers() -> list[str]:
    return [_boxed(s) for s in (
        "(10^{10})!", "(10^{100})!", "10^{10^{10}}", "10^{10^{10^{10}}}", "(9^{9^9})!",
        "\\dfrac{5^{5^{5^{5^{5}}}} - 5}{16}", "2^{2^{2^{2^{2^{2}}}}}", "((10^{10})!)!",
        "10^{10^{10}} + 1", "\\binom{10^{10}}{10^{5}}", "1000000!", "99999999999!",
        "\\frac{(10^{10})!}{(10^{9})!}", "10^{10^{10}} \\bmod 7", "3\\uparrow\\uparrow 5",
        "\\sqrt[10^{10}]{2^{10^{10}}}", "e^{e^{e^{e^{10}}}}", "\\Gamma(10^{10})",
        "10^{-10^{10}}", "0.\\overline{9}^{10^{10}}",
    )]  # 20


def nested_structures() -> list[str]:
    out = [
        _boxed("\\log(" * 200 + "2" + ")" * 200),
        _boxed("\\ln(\\ln(\\ln(\\ln(\\ln(\\ln(\\ln(\\ln(2))))))))"),
        _boxed("\\sqrt{" * 300 + "2" + "}" * 300),
        _boxed("\\frac{1}{" * 500 + "2" + "}" * 500),
        _boxed("\\frac{" * 200 + "1" + "}{2}" * 200),
        _boxed("(" * 2000 + "1" + ")" * 2000),
        _boxed("{" * 10_000 + "1" + "}" * 10_000),
        "\\boxed{" + "{" * 10_000 + "1",  # unbalanced, deep
        _boxed("[" * 1000 + "]" * 1000),
        _boxed("\\left(" * 500 + "x" + "\\right)" * 500),
    ]
    return out  # 10


def long_and_unbalanced() -> list[str]:
    return [
        "$" * 5000,
        _boxed("$" * 5000),
        "$" * 5001 + "\\boxed{3",
        _boxed("1" * 1_000_000),
        "x " * 500_000 + "\\boxed{3}" * 0,
        _boxed("1+" * 200_000 + "1"),
        "\\boxed{",
        "\\boxed{3",
        "\\boxed{\\boxed{\\boxed{",
        "\\boxed{4}}}}}}}}" + "}" * 10_000,
        "\\boxed{" * 5000,
        "\\boxed{1}" * 5000,
        "\\boxed{3} " + "\\boxed{4} " * 30,
        "</think>" * 10_000 + "\\boxed{5}",
        "\\begin{pmatrix}" * 200,
        "\\\\" * 100_000,
        "\\frac" * 50_000,
        "^" * 100_000,
        "_{" * 20_000,
        "\\text{" * 5000 + "3",
        "\\boxed{" + "a" * 2_001 + "}",
        "<think>" * 10_000,
        "\\boxed{\\boxed{\\boxed{4}}}",
        "\\boxed{1} \\boxed{2} \\boxed{3}",
        "\\boxed{1} or \\boxed{3}",
        "\\boxed{3} \\boxed{4}",
        "\\boxed{1,2,3}",
        "\\boxed{1 \\text{ or } 3}",
        "\\boxed{\\pm 3}",
        "\\boxed{x > 2}",
        "\\fbox{" * 3000 + "3" + "}" * 3000,
        "\\boxed{\\{1, 2, 3\\}}",
    ]  # 32


def matrices_and_sums() -> list[str]:
    row = " & ".join(["1"] * 200)
    big = "\\\\".join([row] * 200)
    return [
        _boxed(f"\\begin{{pmatrix}}{big}\\end{{pmatrix}}"),
        _boxed(f"\\begin{{bmatrix}}{big}\\end{{bmatrix}}^{{100}}"),
        _boxed("\\det\\begin{pmatrix}" + "\\\\".join([" & ".join(["x"] * 30)] * 30)
               + "\\end{pmatrix}"),
        _boxed("\\sum_{k=1}^{10^{10}} k^{k}"),
        _boxed("\\sum_{n=1}^{10^{100}} \\frac{1}{n^2}"),
        _boxed("\\prod_{k=1}^{10^{10}} k"),
        _boxed("\\sum_{i=1}^{10^{5}}\\sum_{j=1}^{10^{5}} i^j"),
        _boxed("\\int_0^{10^{10}} x^{x} dx"),
        _boxed("\\lim_{n\\to\\infty} (1+1/n)^{n^{n^{n}}}"),
        _boxed("\\sum_{k=0}^{\\infty} \\frac{(10^{10})^k}{k!}"),
    ]  # 10


def confusables_and_garbage() -> list[str]:
    return [_boxed(s) for s in (
        "３", "Ⅲ", "𝟑", "٣", "३", "3\u200b", "\u202e3", "3\ufeff", "ℨ", "𝑥=3",
        "\u0033\u0338", "３/１", "−3", "⁻3", "³", "\x00" * 100, "\udcff" * 5, "3" + "\u0301" * 500,
        "\\text{three}", "\\mathbb{3}",
    )]  # 20


def corpus() -> list[str]:
    return (power_towers() + huge_numbers() + nested_structures() + long_and_unbalanced()
            + matrices_and_sums() + confusables_and_garbage())


# Golds the corpus is checked against: none of them may be accepted.
GOLDS = ("3", "\\frac{1}{3}", "(1,2)", "x^2+1")
