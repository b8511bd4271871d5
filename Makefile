# leadflow: `make run` starts the whole system locally, `make test` runs the test suite.
# Both set everything up on a fresh machine: project virtualenv, pinned dependencies,
# the Kafka broker jars (Maven Central), an embedded PostgreSQL.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test test-unit bench lint lock clean stack-up stack-down stack-status openapi prometheus

$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "installing pinned dependencies into $(VENV) ..."
	@$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.lock
	@$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	$(BIN)/leadflow run

test: $(STAMP) lint prometheus
	$(BIN)/leadflow stack fetch-kafka
	$(BIN)/python -m pytest -ra $(PYTEST_ARGS)

test-unit: $(STAMP) prometheus
	$(BIN)/python -m pytest -ra tests/unit $(PYTEST_ARGS)

# `make bench` runs the ingest benchmark, then the router benchmark, then the nurture benchmark,
# then the dedupe benchmark (in process: precision, recall and F1 of the router's same-person
# decisions on generated people) and its hold-out set (hand-written people and variants, written
# without reading the match rules), then the lead search benchmark (filtered pages, funnel and
# segments on 1,000,000 leads seeded into an embedded PostgreSQL of its own; results of all in
# tests/bench/results/). BENCH_ARGS go to all five: only options all accept (--repeats,
# --duration, --warmup, --wait-idle, --keep, --out; dedupe ignores all but --repeats and --out,
# search all but --out). Options of one benchmark go in INGEST_BENCH_ARGS, ROUTER_BENCH_ARGS,
# NURTURE_BENCH_ARGS, DEDUPE_BENCH_ARGS or SEARCH_BENCH_ARGS, e.g. --rates (ingest: hundreds of
# req/s, default 100,300,400; its p99 targets are at 100 and 300; router: tens of leads/s; nurture:
# steps falling due per s), --seed-leads, --leads, --seed-steps, --due, --people, --seed
# (search: --leads, --runs, --report-runs).
bench: $(STAMP)
	$(BIN)/leadflow stack fetch-kafka
	$(BIN)/python -m tests.bench.run $(BENCH_ARGS) $(INGEST_BENCH_ARGS)
	$(BIN)/python -m tests.bench.router $(BENCH_ARGS) $(ROUTER_BENCH_ARGS)
	$(BIN)/python -m tests.bench.nurture $(BENCH_ARGS) $(NURTURE_BENCH_ARGS)
	$(BIN)/python -m tests.bench.dedupe $(BENCH_ARGS) $(DEDUPE_BENCH_ARGS)
	$(BIN)/python -m tests.bench.dedupe_holdout
	$(BIN)/python -m tests.bench.search $(BENCH_ARGS) $(SEARCH_BENCH_ARGS)

# promtool and prometheus from Debian's `prometheus` package (apt-get, as root), for the alert-rule
# tests and the test that scrapes the stack; the package's daemon is kept from starting.
prometheus:
	@command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1 || \
	  sh deploy/prometheus/install-debian.sh

lint: $(STAMP)
	$(BIN)/ruff check shared services tests
	$(BIN)/ruff format --check shared services tests
	$(BIN)/mypy

openapi: $(STAMP)
	$(BIN)/leadflow openapi --write

stack-up: $(STAMP)
	$(BIN)/leadflow stack up
stack-down: $(STAMP)
	$(BIN)/leadflow stack down
stack-status: $(STAMP)
	$(BIN)/leadflow stack status

# Re-resolve the pinned set from pyproject.toml's direct pins, then the runtime subset the
# container image installs (same versions, without the dev extra).
lock:
	rm -rf .lockvenv && $(PYTHON) -m venv .lockvenv
	.lockvenv/bin/pip install --quiet ".[dev]"
	{ echo "# Full pinned dependency set (direct pins in pyproject.toml). Regenerate with: make lock"; \
	  .lockvenv/bin/pip freeze --exclude-editable | grep -v '^leadflow'; } > requirements.lock
	rm -rf .lockvenv && $(PYTHON) -m venv .lockvenv
	.lockvenv/bin/pip install --quiet -c requirements.lock .
	{ echo "# Runtime dependencies only (the container image): the [project] dependencies of pyproject.toml, pinned at the versions of requirements.lock. Regenerate with: make lock"; \
	  .lockvenv/bin/pip freeze --exclude-editable | grep -v '^leadflow'; } > requirements-runtime.lock
	rm -rf .lockvenv build

clean:
	-$(BIN)/leadflow stack down
	rm -rf $(VENV) .leadflow
