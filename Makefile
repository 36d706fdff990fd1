# The two commands: `make run` (embedded default) and `make test`. See README.md.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 5000
STAMP  := $(VENV)/.installed-stamp

.PHONY: install run test lint typecheck release clean bench bench-scoring browser wrk faults

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

release: install
	$(BIN)/flask --app gateway release

# Embedded default: SQLite under instance/, jobs in-process. With REDIS_URL set, the RQ worker
# runs too (honcho, from the Procfile); DATABASE_URL picks the database.
run: release
	@$(BIN)/flask --app gateway urls --port $(PORT)
	@$(BIN)/flask --app gateway demo load
	@if [ -n "$$REDIS_URL" ]; then \
	  echo "  processes         : web + worker (Procfile, via honcho)"; \
	  PATH="$(CURDIR)/$(BIN):$$PATH" exec $(BIN)/honcho start --port $(PORT) web worker; \
	else \
	  echo "  processes         : web only (set REDIS_URL to run the RQ worker too)"; \
	  PATH="$(CURDIR)/$(BIN):$$PATH" exec $(BIN)/honcho start --port $(PORT) web; \
	fi

lint: install
	$(BIN)/ruff check gateway flows scoring tests bench faults

typecheck: install
	$(BIN)/mypy gateway flows scoring tests bench faults

# ruff, mypy, then pytest. PostgreSQL, Redis and RQ tests run when those services answer
# (TEST_POSTGRES_URL, TEST_REDIS_URL, defaults on 127.0.0.1) and are reported as skipped when not;
# under CI=true a missing service fails the run instead.
test: lint typecheck browser
	$(BIN)/pytest

# Debian's chromium for the browser tests (Playwright drives it; no browser download). Installed
# when apt-get can (root); otherwise the browser tests are reported as skipped (fatal under CI).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian's chromium for the browser tests"; \
	    (apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1 || \
	     (apt-get update -qq >/dev/null 2>&1 && \
	      apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1)) || \
	    echo "chromium could not be installed: browser tests will be skipped"; \
	  else echo "no chromium (and no root apt-get): browser tests will be skipped"; fi; }

# The campaign-day figures (bench/run.py): USSD and SMS through the Procfile's gunicorn against a
# bare Flask and a one-INSERT baseline, freshness, memory, recompute at 1M and 10M answers against
# a bare GROUP BY, on PostgreSQL (BENCH_POSTGRES_URL) and Redis (BENCH_REDIS_URL). 10 to 20 minutes;
# BENCH_ARGS=--quick for a 4-minute run. Prints one table, saves bench/results/, updates README.
bench: install wrk
	$(BIN)/python bench/run.py $(BENCH_ARGS)

# wrk (Debian's package) plays the load; installed when apt-get can (root).
wrk:
	@command -v wrk >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian's wrk for the benchmarks"; \
	    apt-get install -y -qq --no-install-recommends wrk >/dev/null 2>&1 || \
	     (apt-get update -qq >/dev/null 2>&1 && \
	      apt-get install -y -qq --no-install-recommends wrk >/dev/null 2>&1); \
	  fi; command -v wrk >/dev/null 2>&1 || { echo "wrk is needed: apt-get install wrk"; exit 1; }; }

# Issue 9's fault and abuse suite (faults/, a pytest suite of its own): a private PostgreSQL
# cluster (initdb) and redis-server on free loopback ports, the Procfile's gunicorn and RQ workers,
# then Redis killed and frozen, workers SIGKILLed, PostgreSQL stopped 30 s, duplicated webhooks,
# fuzzing, access and privacy checks. About 6 minutes; the machine's own services are left alone.
# Prints one line per scenario; the summary goes to bench/results/faults-<date>-<host>.json/.md.
faults: install
	$(BIN)/pytest faults -p no:cacheprovider

# Issue 4's acceptance at scale, on PostgreSQL (TEST_POSTGRES_URL): see bench/scoring_scale.py.
bench-scoring: install
	$(BIN)/python bench/scoring_scale.py --answers $${ANSWERS:-1000000}

clean:
	rm -rf $(VENV) instance .pytest_cache .mypy_cache .ruff_cache .hypothesis
