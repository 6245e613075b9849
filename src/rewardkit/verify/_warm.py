"""Preloaded by the workers' forkserver only: imports math-verify and runs one parse and verify,
so every worker forked from it starts with grammar and sympy caches warm (a cold worker's first
check costs 0.15-0.25 s). Never imported by the caller."""

import logging

from math_verify import parse, verify

logging.getLogger("math_verify").setLevel(logging.ERROR)  # its timeouts are off on purpose

verify(parse("\\boxed{\\frac{1}{2}+x^2}", parsing_timeout=None),
       parse("\\boxed{0.5+x^{2}}", parsing_timeout=None), timeout_seconds=None)
