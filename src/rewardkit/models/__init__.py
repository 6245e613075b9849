"""Models built locally: `tiny.py` writes small HF-format causal LMs and their tokenizer."""
