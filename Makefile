# The two commands: `make demo` and `make test`. Both bootstrap .venv and are safe to re-run.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha256sum | cut -c1-12)
DEMO_DIR ?= demo-project
DEMO_ROWS ?= 1000000

.PHONY: demo test lint typecheck layers unit postgres chromium bench clean
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

venv: $(STAMP)

# Start the local PostgreSQL server when it is down (this machine kind ships one on 127.0.0.1:5432).
postgres:
	@pg_isready -q -h 127.0.0.1 -p 5432 || { \
	  echo "starting PostgreSQL"; \
	  pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql) main start; \
	  for i in $$(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done; }

# Debian's Chromium for the browser tests of the web UI (tests/api/test_ui.py drives it with Playwright).
chromium:
	@test -x /usr/bin/chromium || { echo "installing Debian's chromium (browser tests of the web UI)"; \
	  $(SUDO) apt-get install -y -q --no-install-recommends chromium >/dev/null || \
	  { $(SUDO) apt-get update -q >/dev/null && $(SUDO) apt-get install -y -q --no-install-recommends chromium >/dev/null; }; }

demo: $(STAMP)
	$(BIN)/tide demo --dir $(DEMO_DIR) --rows $(DEMO_ROWS)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

layers: $(STAMP)
	$(BIN)/lint-imports

unit: $(STAMP) postgres chromium
	$(BIN)/python -m pytest -q -p no:cacheprovider

test: lint typecheck layers unit

bench: $(STAMP) postgres
	$(BIN)/python bench/pushdown.py

clean:
	rm -rf $(VENV) $(DEMO_DIR) .pytest_cache .mypy_cache .ruff_cache
