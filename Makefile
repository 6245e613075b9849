# Two commands do everything on a fresh machine with Python 3.11:
#   make demo   installs what it needs into .venv and runs the main job
#   make test   installs what it needs into .venv and runs the tests
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed

.PHONY: demo score-example test lint install clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# The CPU build first, so nothing below can pull a CUDA build of torch.
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[train,tasks,dev,integrations]"
	# The code sandbox's bubblewrap, where this machine can install it (root on Debian/Ubuntu).
	sh scripts/install-sandbox.sh || echo "no bubblewrap: code/sql sandbox tests will skip"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/rewardkit demo --out runs/demo-$$(date +%Y%m%d-%H%M%S)

score-example: $(STAMP)
	$(BIN)/rewardkit score --task math --reward accuracy --reward format:weight=0.5 \
	  --reward kimi_length:weight=0.4 --advantage grpo \
	  --input examples/rollouts.jsonl --output runs/scored.jsonl

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) runs .pytest_cache
