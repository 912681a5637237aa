# The README's two commands: `make book` (the offline book) and `make test` (the
# regression suite). Each installs what it needs first, so each works on a fresh
# machine; torch is pinned first because a looser pin pulls a multi-GB CUDA build.
PYTHON ?= python
PIP := $(PYTHON) -m pip
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# wait for another apt or dpkg (an unattended upgrade on a fresh machine) instead of failing
APT := apt-get -o DPkg::Lock::Timeout=300
# e.g. `make book BOOK_FLAGS=--partial` to accept a book whose data-bound chapters are degraded
BOOK_FLAGS ?=
SMOKE_NOTEBOOKS := _build/smoke/src/notebooks/executed
NBVAL := --nbval-lax --nbval-current-env --nbval-sanitize-with tests/sanitize.cfg

.PHONY: book test lint

book:
	$(PIP) install torch==2.13.0
	$(PIP) install -e ".[book]"
	npmk book $(BOOK_FLAGS)

# The smoke book is built with --partial: without network or mirror its data-bound
# chapters are degraded and the tests that need the data skip; with the data,
# tests/test_book.py checks that every smoke chapter is complete.
test:
	command -v chromium >/dev/null 2>&1 || { $(SUDO) $(APT) update && $(SUDO) $(APT) install -y chromium; }
	$(PIP) install torch==2.13.0
	$(PIP) install -e ".[test]"
	$(PYTHON) -m ruff check
	npmk book --profile smoke --partial
	$(PYTHON) -m pytest tests $(SMOKE_NOTEBOOKS) $(NBVAL)

# lint and import order of npmk/, tests/, bench/ and notebooks/ (config: pyproject.toml)
lint:
	$(PYTHON) -m ruff check
