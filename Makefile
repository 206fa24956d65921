# make table       : every technique on the four workloads (experiment=overhead_table, harness=table:
#                    under 30 minutes on 2 cores with a cold model cache), then the tables and figures
# make table-quick : every technique in a few minutes (tiny settings), into results/quick; CI runs it
# make test        : runs the default test suite (heavier tests: make test-slow)
# All create .venv on first use; a second call reinstalls nothing. table and table-quick resume: a
# cell already recorded (same config, status ok) is skipped, so an interrupted run picks up where it
# stopped (make clean-results starts over).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.nesabench-installed
PIP    := $(BIN)/python -m pip --disable-pip-version-check -q
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

# make reference : reruns the overhead table into results/reference (committed) and rewrites the
#                  README's result tables from it; REFERENCE_ARGS restricts or varies the run.
REFERENCE_ARGS ?=
# make table TABLE_ARGS="workload=mlp_cancer" : restricts or varies the table's sweep.
TABLE_ARGS ?=
QUICK_RESULTS := results/quick
# table-quick: every technique on mlp_cancer, and three that take seconds on tiny_transformer too;
# the transformer cells of HE and ZK take minutes each and are left to make table.
QUICK_SWEEP := -m experiment=overhead_table harness=smoke
QUICK_TRANSFORMER := plaintext,nesa_ee,nesa_hss

.PHONY: table table-quick test test-slow lint venv clean-results reference

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
	$(BIN)/nesabench -m experiment=overhead_table harness=table $(TABLE_ARGS)
	$(BIN)/nesabench-report

table-quick: $(STAMP)
	NESABENCH_RESULTS=$(QUICK_RESULTS) $(BIN)/nesabench $(QUICK_SWEEP) workload=mlp_cancer
	NESABENCH_RESULTS=$(QUICK_RESULTS) $(BIN)/nesabench $(QUICK_SWEEP) workload=tiny_transformer \
	    technique=$(QUICK_TRANSFORMER)
	NESABENCH_FIGURES=$(QUICK_RESULTS)/figures $(BIN)/nesabench-report $(QUICK_RESULTS)

reference: $(STAMP)
	rm -rf results/reference/runs
	NESABENCH_RESULTS=results/reference $(BIN)/nesabench -m experiment=overhead_table $(REFERENCE_ARGS)
	$(BIN)/nesabench-report results/reference --readme README.md

test: $(STAMP)
	$(BIN)/python -m pytest -q

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow

lint: $(STAMP)
	$(BIN)/ruff check .

clean-results:
	rm -rf results/runs results/hydra $(QUICK_RESULTS)
