# The whole developer workflow. Every target installs what it needs into .venv first.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test check bench clean FORCE

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Strict editable installs link each file, so a new module needs a re-link: .files records the list.
SOURCES := $(shell find engine api workers processes forms -type f \( -name '*.py' -o -name '*.bpmn' \
	-o -name '*.dmn' -o -name '*.json' -o -name '*.mako' -o -name 'py.typed' \) 2>/dev/null | sort)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]' --config-settings editable_mode=strict
	touch $(STAMP)

$(VENV)/.files: $(STAMP) FORCE
	@echo '$(SOURCES)' | cmp -s - $@ || { \
	  $(BIN)/python -m pip install --quiet --no-deps -e . --config-settings editable_mode=strict \
	  && echo '$(SOURCES)' > $@; }

install: $(VENV)/.files

FORCE:

run: install
	$(BIN)/loanflow serve --demo

test: install
	$(BIN)/pytest

check: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: install
	$(BIN)/python bench/engine_overhead.py
	$(BIN)/python bench/dmn_eval.py

clean:
	rm -rf $(VENV) build *.egg-info var
