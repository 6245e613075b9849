"""The labelled corpus: hand-written (gold, reply, expected) triples for `math` — at least 97%
agreement with the labels and no false positive (a wrong reply judged correct)."""

from pathlib import Path

from rewardkit.testing import make_group
from rewardkit.verify import verify_groups

DATA = Path(__file__).parent / "data" / "labelled_math.txt"


def labelled() -> list[tuple[str, str, bool]]:
    rows = []
    for line in DATA.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            gold, reply, expected = (part.strip() for part in line.split(";;"))
            if "\\boxed" not in reply and "</think>" not in reply:
                reply = f"The answer is \\boxed{{{reply}}}"
            rows.append((gold, reply, expected == "1"))
    return rows


def judge(rows):
    """Verdicts for all rows in one batch (one group per gold, as training verifies)."""
    by_gold: dict[str, list[int]] = {}
    for i, (gold, _, _) in enumerate(rows):
        by_gold.setdefault(gold, []).append(i)
    groups = [make_group(texts=[rows[i][1] for i in idx], answer=gold, problem_id=f"g{k}",
                         task="math") for k, (gold, idx) in enumerate(by_gold.items())]
    verdicts: list = [None] * len(rows)
    for group, idx in zip(verify_groups("math", groups, timeout_s=10), by_gold.values()):
        for i, correct, status in zip(idx, group.correct, group.status):
            verdicts[i] = (correct, status)
    return verdicts


def test_labelled_corpus_agreement_and_no_false_positives():
    rows = labelled()
    assert len(rows) >= 300
    verdicts = judge(rows)
    agree = sum((c is True) == want for (c, _), (_, _, want) in zip(verdicts, rows))
    false_pos = [(g, r) for (c, _), (g, r, want) in zip(verdicts, rows) if c is True and not want]
    missed = [(g, r, s) for (c, s), (g, r, want) in zip(verdicts, rows) if want and c is not True]
    print(f"\nlabelled corpus: {len(rows)} pairs, agreement {agree / len(rows):.1%}, "
          f"false positives {len(false_pos)}; missed: {missed}")
    assert not false_pos
    assert agree / len(rows) >= 0.97
