# ebmlab entry points. `make lab` and `make test` do all set-up on a fresh machine.
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c

PYTHON ?= python3
VENV   ?= .venv
TORCH  ?= torch==2.13.0
JOBS   ?= 2
ARGS   ?=
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.ebmlab-installed
PIP    := $(BIN)/python -m pip install --quiet --disable-pip-version-check
QUIET  := grep -v "is ignored" || true

.PHONY: setup lab reproduce test lint clean FORCE

setup: $(STAMP)

# Reinstall when pyproject.toml changes or TORCH names another build.
ifneq ($(shell cat $(STAMP) 2>/dev/null),$(TORCH))
$(STAMP): FORCE
endif
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "installing $(TORCH) (CPU build first, so no CUDA build is pulled in)"
	@$(PIP) "$(TORCH)" 2>&1 | $(QUIET)
	@echo "installing ebmlab and its dependencies"
	@$(PIP) -e ".[dev]" 2>&1 | $(QUIET)
	@$(BIN)/python -c "import torch, ebmlab; print('ready: torch', torch.__version__, '| ebmlab', ebmlab.__version__)"
	@echo "$(TORCH)" > $(STAMP)

FORCE:

lab: setup
	$(BIN)/ebmlab lab $(ARGS)

reproduce: setup
	$(BIN)/ebmlab reproduce --jobs $(JOBS) $(ARGS)

lint: setup
	$(BIN)/ruff check .

test: setup lint
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest $(ARGS)

clean:
	rm -rf outputs figures .pytest_cache
