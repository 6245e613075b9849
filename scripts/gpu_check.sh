#!/usr/bin/env bash
# Issue 16's GPU checks as one prepared script, for a lent GPU machine (the `device` tool's run).
#
#   bash scripts/gpu_check.sh --fetch   # here, with PyPI reachable: wheels for Python 3.12 -> .whl/
#   bash scripts/gpu_check.sh           # there (carry .whl): install them, run every gpu test,
#                                       # then trainer_vs_trl.py on the GPU (--tests-only: not)
#
# The GPU machine holds torch, transformers, accelerate, peft, safetensors, pyyaml, rich, numpy
# and pytest, but not rewardkit's verification stack, and nothing can be fetched there; so the
# missing pure-Python packages travel as wheels (pinned to what the CPU venv runs) and rewardkit
# itself runs from src/. vLLM is not among them: its wheel (0.34.0: 228 MiB) is over the
# 64 MiB a device call may carry, so the vLLM tests skip there as they do here.
# Output goes to stdout and, when the device tool's $OUT is set, to $OUT/gpu_check.log.
set -euo pipefail
cd "$(dirname "$0")/.."

WHEELS=(
  "pebble==5.2.3"
  "math-verify==0.9.0"
  "latex2sympy2_extended==1.11.0"
  "antlr4-python3-runtime==4.13.2"
  "sqlglot==30.31.0"
  # the peer of benchmarks/trainer_vs_trl.py
  "trl==1.16.0"
  "datasets==5.2.0"
  "dill==0.4.1"
  "multiprocess==0.70.19"
)

if [[ "${1:-}" == "--fetch" ]]; then
  grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
  python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp --platform manylinux2014_x86_64 --platform any \
    -d .whl "${WHEELS[@]}"
  ls -la .whl
  exit 0
fi

log=/dev/null
[[ -n "${OUT:-}" ]] && log="$OUT/gpu_check.log"
{
  if compgen -G ".whl/*.whl" > /dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
      --target /tmp/site .whl/*.whl
  fi
  export PYTHONPATH="$PWD/src:/tmp/site${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
  python3 - <<'EOF'
import torch, transformers, accelerate
print("torch", torch.__version__, "| transformers", transformers.__version__,
      "| accelerate", accelerate.__version__)
print("cuda:", torch.cuda.is_available(),
      torch.cuda.get_device_name(0) if torch.cuda.is_available() else "-")
EOF
  # Every test marked gpu (precision, the short training run, vLLM where installed), verbose so
  # that the log says which ran and which skipped. Only the files that hold them are collected:
  # others import packages the image lacks (fastapi, reasoning_gym, ...).
  mapfile -t files < <(grep -rl --include='test_*.py' 'pytest.mark.gpu' tests)
  python3 -m pytest -p no:cacheprovider -m gpu -v -rs "${files[@]}" || echo "gpu tests: FAILED"
  # rewardkit against TRL's GRPOTrainer on the GPU (issue 16's comparison, HF sampling on both
  # sides: TRL's vLLM colocate mode needs vLLM too), unless --tests-only.
  if [[ "${1:-}" != "--tests-only" ]]; then
    python3 benchmarks/trainer_vs_trl.py --device cuda --repeats 2 --steps 6 --layers 24 \
      --hidden 896 --heads 14 --group 16 --max-new-tokens 512 --lr 1e-6 \
      || echo "trainer_vs_trl: FAILED"
  fi
} 2>&1 | tee "$log"
