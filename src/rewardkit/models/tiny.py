"""Small causal LMs built locally, in the standard Hugging Face format (no downloads).

`build_tokenizer()` is a character-level tokenizer: every printable ASCII character and the
newline is one token, and the structure markers `<think>`, `</think>` and `\\boxed{` are single
tokens too, so the answer format costs a tiny model almost nothing to learn. `build_tiny_model()`
writes a randomly initialised Qwen2-style model with that tokenizer via `save_pretrained`, so the
same loading path (`AutoModelForCausalLM.from_pretrained(dir)`) serves it and a real checkpoint.

Token counts of this tokenizer are character counts (except the three markers), which is what
the demo's length rewards see.
"""

from __future__ import annotations

from pathlib import Path

PAD, EOS, UNK = "<pad>", "<eos>", "<unk>"
SPECIAL_TOKENS = (PAD, EOS, UNK)
# Ordinary (non-special) added tokens: `decode(..., skip_special_tokens=True)` keeps them, so a
# sampler that strips <pad>/<eos> still returns the think tags and the box to the verifier.
STRUCTURE_TOKENS = ("<think>", "</think>", "\\boxed{")
CHARACTERS = tuple(chr(c) for c in range(32, 127)) + ("\n",)


def _byte_level(char: str) -> str:
    """GPT-2 byte-level spelling of an ASCII character: bytes 0-32 become chr(256 + b)."""
    return chr(256 + ord(char)) if ord(char) <= 32 else char


def build_tokenizer():
    """A character-level Qwen2 tokenizer; `decode(encode(text)) == text` for ASCII text.

    Ids: 0 `<pad>`, 1 `<eos>`, 2 `<unk>`, 3-5 the structure tokens, then the 96 characters.
    No BOS and no post-processor: `tokenizer(text)` adds nothing, so a prompt tokenizes the same
    with or without `add_special_tokens`. Characters outside printable ASCII + newline are dropped.

    Why a Qwen2 tokenizer with no merges rather than a custom pipeline: transformers 5 loads the
    tokenizer of a `qwen2` checkpoint as `Qwen2Tokenizer`, which rebuilds the pipeline (byte-level
    BPE) from the saved vocabulary and merges. A byte-level vocabulary of single characters with no
    merges is a character tokenizer under that pipeline, so the tokenizer built here and the one
    `AutoTokenizer.from_pretrained` reloads encode identically.

    >>> tok = build_tokenizer()
    >>> text = "<think>2+3=5</think>\\\\boxed{5}"
    >>> ids = tok(text)["input_ids"]
    >>> len(ids), tok.decode(ids) == text  # <think> 2 + 3 = 5 </think> \\boxed{ 5 }
    (10, True)
    """
    from tokenizers import AddedToken
    from transformers.models.qwen2.tokenization_qwen2 import Qwen2Tokenizer

    vocab = {t: i for i, t in enumerate(SPECIAL_TOKENS + STRUCTURE_TOKENS)}
    for char in CHARACTERS:
        vocab[_byte_level(char)] = len(vocab)
    tokenizer = Qwen2Tokenizer(
        vocab=vocab,
        merges=[],  # no merges: every character stays one token
        unk_token=UNK,
        eos_token=EOS,
        pad_token=PAD,
        clean_up_tokenization_spaces=False,  # " ," must stay " ,": decode gives the exact text
        model_max_length=1024,
    )
    # Added tokens are matched before pre-tokenization, so the markers stay whole.
    tokenizer.add_tokens([AddedToken(t, special=False, normalized=False) for t in STRUCTURE_TOKENS])
    return tokenizer


def tiny_config(
    vocab_size: int,
    *,
    layers: int = 2,
    hidden: int = 64,
    heads: int = 4,
    intermediate: int | None = None,
    max_position: int = 1024,
    pad_token_id: int = 0,
    eos_token_id: int = 1,
):
    """A Qwen2Config for a tiny model with tied input/output embeddings."""
    from transformers import Qwen2Config

    if hidden % heads:
        raise ValueError(f"hidden ({hidden}) must be divisible by heads ({heads})")
    return Qwen2Config(
        vocab_size=vocab_size,
        hidden_size=hidden,
        intermediate_size=intermediate or 4 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=heads,
        max_position_embeddings=max_position,
        tie_word_embeddings=True,
        pad_token_id=pad_token_id,
        eos_token_id=eos_token_id,
        bos_token_id=None,
        use_cache=True,
    )


def build_tiny_model(
    out_dir: str | Path,
    *,
    layers: int = 2,
    hidden: int = 64,
    heads: int = 4,
    intermediate: int | None = None,
    seed: int = 0,
    max_position: int = 1024,
) -> Path:
    """Write a randomly initialised tiny Qwen2-style model and its tokenizer to `out_dir`.

    The same `seed` gives the same weights. Returns the directory, loadable with
    `AutoModelForCausalLM.from_pretrained` / `AutoTokenizer.from_pretrained` offline.
    """
    import torch
    from transformers import GenerationConfig, Qwen2ForCausalLM

    tokenizer = build_tokenizer()
    config = tiny_config(
        len(tokenizer),
        layers=layers,
        hidden=hidden,
        heads=heads,
        intermediate=intermediate,
        max_position=max_position,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    # A local generator seeds the initialisation without touching the global RNG's stream
    # for the caller (fork_rng restores it afterwards).
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Qwen2ForCausalLM(config)
    model.generation_config = GenerationConfig(
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    return out


def count_parameters(model) -> int:
    """Number of distinct parameters (tied embeddings counted once)."""
    return sum(p.numel() for p in model.parameters())


# The demo's starting model, shipped in the package (rebuilt by `rewardkit sft`, see the path's
# sft.json and docs/demo-model.md).
REBUILD_START_MODEL = (
    "rewardkit sft configs/sft_arith.yaml --set out=src/rewardkit/data/arith-start"
)


def start_model_path() -> Path:
    """The shipped warm-started `arith` model (HF format), for `rewardkit demo` and tests."""
    from rewardkit.errors import UserError

    path = Path(__file__).resolve().parents[1] / "data" / "arith-start"
    if not (path / "model.safetensors").is_file():
        raise UserError(f"the demo's starting model is missing; rebuild it: {REBUILD_START_MODEL}",
                        where=str(path))
    return path
