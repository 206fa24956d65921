# make table : runs the default overhead-table experiment, writes tables and figures
# make test  : runs the default test suite (heavier tests: make test-slow)
# Both create .venv on first use; a second call reinstalls nothing.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.nesabench-installed
PIP    := $(BIN)/python -m pip --disable-pip-version-check -q
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: table test test-slow lint venv clean-results

venv: $(STAMP)

# torch first (the CPU wheel this machine holds), then the project, then Concrete ML without its
# exact pins plus the companions it needs; the stamp records that all of it went in.
$(STAMP): pyproject.toml requirements/constraints.txt requirements/concrete-ml-companions.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install torch==2.13.0
	$(PIP) install -c requirements/constraints.txt -e '.[dev]'
	$(PIP) install -c requirements/constraints.txt -r requirements/concrete-ml-companions.txt
	$(PIP) install --no-deps concrete-ml==1.9.0
	$(BIN)/python -c "import torch, tenseal, concrete.ml, ezkl, opacus, hydra, transformers, cryptography, pyarrow"
	touch $@

table: $(STAMP)
	$(BIN)/nesabench -m experiment=overhead_table
	$(BIN)/nesabench-report

test: $(STAMP)
	$(BIN)/python -m pytest -q

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow

lint: $(STAMP)
	$(BIN)/ruff check .

clean-results:
	rm -rf results/runs results/hydra
