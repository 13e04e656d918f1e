# The two commands of the README:
#   make run   set up .venv if needed, then run the main job (ageing evolution with an
#              epsilon warm-up on NAS-Bench-201 CIFAR-10; prints where its table and plot are)
#   make test  set up .venv if needed, then run the whole test suite
# Data: $NAS_DATA_DIR, else ../shared/data when it exists.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SHARED := $(abspath ../shared/data)
export NAS_DATA_DIR ?= $(if $(wildcard $(SHARED)),$(SHARED),)

.PHONY: setup run test docs

setup: $(STAMP)

# torch is pinned to the CPU build first, so that nothing later pulls a CUDA build.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet "torch==2.13.0"
	$(BIN)/pip install --quiet -e ".[test,ray,nats,export]" "torch==2.13.0"
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/nas search configs/quickstart.yaml --resume

# One pytest worker per core (pytest-xdist), each test file on one worker: most tests wait on
# subprocesses or run one torch thread, so two workers halve the wall time on 2 cores.
test: $(STAMP)
	$(BIN)/pytest -q -n auto --dist loadfile

# The documentation site (mkdocs.yml, pages in docs/site/) with warnings as errors, into site/.
# The docs extra is installed once into .venv (its own stamp, redone when pyproject.toml changes).
DOCS_STAMP := $(VENV)/.installed-docs

$(DOCS_STAMP): $(STAMP) pyproject.toml
	$(BIN)/pip install --quiet -e ".[docs]" "torch==2.13.0"
	touch $(DOCS_STAMP)

docs: $(DOCS_STAMP)
	$(BIN)/mkdocs build --strict
