"""Trainer, warm start and sampler agree on prompt ids, special tokens included (D7/B19 comment
fix): a tokenizer that adds a BOS (as Llama's does) must give the same ids everywhere."""

from __future__ import annotations

from types import SimpleNamespace

from rewardkit.sampling.hf import HFSampler
from rewardkit.train.policy import encode_prompt
from rewardkit.train.sft import build_examples

BOS, EOS = 1, 2


class BosTokenizer:
    """Character ids (ord), with a BOS in front when special tokens are added (the default)."""

    eos_token_id = EOS

    def __call__(self, text, add_special_tokens=True):
        ids = ([BOS] if add_special_tokens else []) + [ord(c) for c in text]
        return _Encoding(ids)


class _Encoding(dict):
    def __init__(self, ids):
        super().__init__(input_ids=ids)
        self.input_ids = ids


def test_fallback_encoding_matches_the_sampler_and_the_warm_start():
    tok = BosTokenizer()
    sampler_ids = HFSampler.encode(SimpleNamespace(chat_template=False, tokenizer=tok), "1+2=")
    assert sampler_ids == [BOS, 49, 43, 50, 61]  # BOS, then '1' '+' '2' '=' (ord)
    assert encode_prompt(tok, "1+2=") == sampler_ids
    (ids, n_prompt), = build_examples(tok, [("1+2=", "3")])
    assert ids[:n_prompt] == sampler_ids and ids[n_prompt:] == [51, EOS]  # '3', EOS
