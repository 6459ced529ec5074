# Two commands do all the set-up on a fresh machine:
#   make lab    create .venv if missing, then open JupyterLab on the notebooks
#   make test   create .venv if missing, then run every test and every notebook (nbval)
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
BOOK_STAMP := $(VENV)/.installed-book
SHARED_POKEMON := $(abspath ../shared/data/pokemon)
# Use the course copy beside the repository when there is one (CI, maintainers); else the
# loader looks in data/pokemon/ and downloads there on first use (`make test` and `make check`
# do that first, in their set-up: the tests themselves never download).
ifneq ($(wildcard $(SHARED_POKEMON)/pixel_color.txt),)
export POKEMON_DATA_DIR ?= $(SHARED_POKEMON)
endif
export PATH := $(abspath $(BIN)):$(PATH)
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9][0-9]_*.py))
# Training device for `make checkpoints`: auto = CUDA when present, else CPU.
DEVICE ?= auto
# Submissions `make autograde` grades side by side, each in its own sandbox.
JOBS ?= 1

.PHONY: lab test check data venv sync notebooks checkpoints student autograde bench book clean help
help:
	@echo "make lab          open the series in JupyterLab (creates .venv first if missing)"
	@echo "make test         run all tests and every notebook under nbval"
	@echo "make check        the fast inner loop: no notebook executed, no browser (the book is built once)"
	@echo "make sync         bring each notebooks/NN_*.py and its .ipynb twin together"
	@echo "make notebooks    sync, then execute every notebook in place (stores outputs)"
	@echo "make checkpoints  retrain every shipped checkpoint (seeded; slow; DEVICE=auto|cpu|cuda)"
	@echo "make bench        measure everything the README claims -> benchmarks/latest.{json,md}, README table"
	@echo "make student      build/student/: every notebook with solutions stripped (nbgrader),"
	@echo "                  and build/generation-student.zip to hand out (+ helpers, checkpoints)"
	@echo "make book         build/book/: the web edition, from the stored outputs (open index.html)"
	@echo "make autograde SUBMISSIONS=dir   grade dir/<student>/NN_name.ipynb -> build/grades.csv,"
	@echo "                                  each submission in its own bubblewrap sandbox (UNSAFE=1: without;"
	@echo "                                  JOBS=4: four at a time)"

# Which torch build `make venv` installs. auto: on Linux without an NVIDIA GPU (no nvidia-smi), the
# CPU build from PyTorch's CPU wheel index (PyPI's Linux wheel is the multi-GB CUDA build), falling
# back to pip's own index when that index cannot be reached; elsewhere pip's own index (macOS and
# Windows wheels there are CPU builds). Override: TORCH_INDEX=cpu, TORCH_INDEX=pypi (pip's
# configured index), or an index URL such as https://download.pytorch.org/whl/cu126.
# (scripts/torch_index.py decides.)
TORCH_VERSION := 2.13.0
TORCH_INDEX ?= auto

venv: $(STAMP)
# the student install: torch (see TORCH_INDEX), then the package and what the notebooks need
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	args="$$(TORCH_INDEX='$(TORCH_INDEX)' $(PY) scripts/torch_index.py)" && \
	  $(PY) -m pip install --quiet torch==$(TORCH_VERSION) $$args
	$(PY) -m pip install --quiet -e .
	touch $(STAMP)

# tests, nbval, nbgrader, the browser driver and the book (pyproject's [dev] extra); on top of the
# book's install, since the tests build the book and it needs the runtime fetched there
$(DEV_STAMP): $(BOOK_STAMP)
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(DEV_STAMP)

# the book's packages, and its live panels' browser runtime (onnxruntime-web, pinned in
# book/vendor.py): fetched once from the npm registry into the user cache, then offline
$(BOOK_STAMP): $(STAMP) book/vendor.py
	$(PY) -m pip install --quiet -e ".[book]"
	$(PY) book/vendor.py
	touch $(BOOK_STAMP)

# Jupyter refuses to run as root unless told; containers and CI often are root.
LAB_ARGS ?= $(if $(filter 0,$(shell id -u)),--allow-root)
lab: $(STAMP)
	$(BIN)/jupyter lab --notebook-dir=notebooks --ip=127.0.0.1 $(LAB_ARGS)

# the course's Pokémon files, checked (sha256), before any test runs: $POKEMON_DATA_DIR, else
# data/pokemon/, downloaded there from the course's page the first time
data: $(STAMP)
	$(PY) -c "from helpers.core.data import load_pokemon; load_pokemon()"

test: $(DEV_STAMP) data
	$(BIN)/pytest -q

check: $(DEV_STAMP) data
	$(BIN)/pytest -q tests -m "not slow and not notebooks and not browser"

sync: $(STAMP)
	$(BIN)/jupytext --sync $(NOTEBOOKS)

# Outputs are stored without progress bars (GENERATION_PROGRESS=0) so diffs stay small.
notebooks: $(DEV_STAMP) sync
	for nb in $(NOTEBOOKS:.py=.ipynb); do \
	  GENERATION_PROGRESS=0 $(BIN)/jupyter nbconvert --to notebook --execute --inplace \
	    --ExecutePreprocessor.timeout=600 "$$nb" || exit 1; done
	$(BIN)/jupytext --sync $(NOTEBOOKS)

checkpoints: $(STAMP)
	$(PY) -m helpers.registry train --device $(DEVICE)

bench: $(DEV_STAMP)
	$(PY) benchmarks/run.py

book: $(BOOK_STAMP)
	$(PY) book/vendor.py
	$(PY) book/build.py

student: $(DEV_STAMP)
	$(PY) -m grader.homework student

autograde: $(DEV_STAMP)
	@test -n "$(SUBMISSIONS)" || { echo "usage: make autograde SUBMISSIONS=folder (folder/<student>/NN_name.ipynb)"; exit 2; }
	$(PY) -m grader.homework autograde "$(SUBMISSIONS)" --jobs $(JOBS) $(if $(filter 1,$(UNSAFE)),--unsafe)

clean:
	rm -rf build test-artifacts .pytest_cache
