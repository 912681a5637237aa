# The README's two commands: `make book` (the offline book) and `make test` (the
# regression suite). Each installs what it needs first, so each works on a fresh
# machine; torch is pinned first because a looser pin pulls a multi-GB CUDA build.
PYTHON ?= python
PIP := $(PYTHON) -m pip
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
SMOKE_NOTEBOOKS := _build/smoke/src/notebooks/executed
NBVAL := --nbval-lax --nbval-current-env --nbval-sanitize-with tests/sanitize.cfg

.PHONY: book test lint

book:
	$(PIP) install torch==2.13.0
	$(PIP) install -e ".[book]"
	npmk book

test:
	command -v chromium >/dev/null 2>&1 || { $(SUDO) apt-get update && $(SUDO) apt-get install -y chromium; }
	$(PIP) install torch==2.13.0
	$(PIP) install -e ".[test]"
	$(PYTHON) -m ruff check
	npmk book --profile smoke
	$(PYTHON) -m pytest tests $(SMOKE_NOTEBOOKS) $(NBVAL)

# lint and import order of npmk/, tests/, bench/ and notebooks/ (config: pyproject.toml)
lint:
	$(PYTHON) -m ruff check
