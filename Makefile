# One command runs every check: `make test`. `make demo` shows a real export.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
RUN    := $(VENV)/.installed-run
DEV    := $(VENV)/.installed-dev

.PHONY: test lint typecheck imports pytest test-slow test-readers test-browser test-airflow demo bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# `make demo` needs only what running needs (about 300 MB); `make test` adds the dev tools.
$(RUN): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $(RUN)

# The dev environment is installed by uv (pinned in the dev extras, read from there): it
# downloads in parallel and byte-compiles on both cores, about 60 s of CPU where pip's two
# steps took about 80 (measured in fresh clones). Compiled at install, not at first import:
# where PYTHONDONTWRITEBYTECODE is set (as on these machines) nothing compiled later is kept,
# and each test process and child would compile pandas, moto, boto3... again (a collection
# took 15 s of CPU instead of 11). `make demo` stays on pip: uv itself is 37 MB. pip is
# upgraded as the run step does: the tests install wheels and git URLs with the venv's pip
# (Python 3.11's bundled 23.2 fails a git+file install without build isolation).
UV_PIN := $(shell grep -o '"uv==[^"]*"' pyproject.toml | tr -d '"')

$(DEV): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet '$(UV_PIN)'
	$(BIN)/uv pip install --python $(BIN)/python --quiet --compile-bytecode --upgrade pip -e '.[dev]'
	touch $(RUN) $(DEV)

lint: $(DEV)
	$(BIN)/ruff check runner runner_airflow tests bench scripts
	$(BIN)/ruff format --check runner runner_airflow tests bench scripts

typecheck: $(DEV)
	$(BIN)/mypy

# Layers import downward only: the contracts are [tool.importlinter] in pyproject.toml.
imports: $(DEV)
	$(BIN)/lint-imports

# Six processes on two cores (pytest-xdist): most tests wait on sockets, servers and child
# processes, and six keep both cores busy (measured on 2 cores: 1 process ~820 s, 2 ~550 s,
# 4 ~480 s, 6 ~380 s, the CPU then saturated); worksteal: an idle process takes a busy one's
# queued tests, so no process is left with a long tail.
# Tests marked `slow` (the scaffolded CI pipelines run job by job, a 9,999-part set) are
# left to `make test-slow`, which CI runs too: the static checks of the same CI files
# and the same part limit at 9 parts run in `make test`.
# Each process costs about 10 s of CPU before its first test (start-up, collecting every
# test and doctest; measured with 2): `make test WORKERS=4` to compare on another machine.
WORKERS ?= 6
# runner/ and tests/ are byte-compiled first (0.6 s of CPU): where PYTHONDONTWRITEBYTECODE
# is set, each test process and each `segments` child would compile them again (about 0.2 s
# of CPU a process, measured; pytest rewrites and compiles its test modules itself).
pytest: $(DEV)
	$(BIN)/python -m compileall -q runner runner_airflow tests
	$(BIN)/pytest -q -n $(WORKERS) --dist worksteal --durations=15 -m 'not slow and not readers and not browser'

test-slow: $(DEV)
	$(BIN)/pytest -q -n 4 --dist worksteal --durations=15 -m slow

test: lint typecheck imports pytest

# Files opened by real programs (LibreOffice Calc). Not part of `make test`: it needs
# apt-get install -y --no-install-recommends libreoffice-calc-nogui (about 35 s here).
test-readers: $(DEV)
	@command -v soffice >/dev/null || { echo "soffice not found: apt-get install -y --no-install-recommends libreoffice-calc-nogui"; exit 1; }
	$(BIN)/pytest -q -m readers tests/readers

# The catalog page in a real browser (Debian's chromium, driven by Playwright; screenshots
# in test-artifacts/). Not part of `make test`: it needs
# apt-get install -y --no-install-recommends chromium (CHROMIUM=path for another binary).
test-browser: $(DEV)
	@test -x "$${CHROMIUM:-/usr/bin/chromium}" || { echo "chromium not found: apt-get install -y --no-install-recommends chromium"; exit 1; }
	$(BIN)/pytest -q -m browser tests/browser

# The Airflow integration's tests (tests/airflow) and runner_airflow's doctests, in a virtual
# environment of their own: Apache Airflow (pinned by the `airflow` extra) and the dev tools
# cannot share one, so `make test` does not collect them. They also run the runner from
# .venv, as a runner kept in its own environment beside Airflow's (SEGMENTS_RUNNER_BIN).
AIRFLOW_VENV  := .venv-airflow
AIRFLOW_STAMP := $(AIRFLOW_VENV)/.installed

$(AIRFLOW_STAMP): pyproject.toml
	$(PYTHON) -m venv $(AIRFLOW_VENV)
	$(AIRFLOW_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(AIRFLOW_VENV)/bin/python -m pip install --quiet -e '.[airflow]' 'pytest>=8.0'
	touch $(AIRFLOW_STAMP)

test-airflow: $(RUN) $(AIRFLOW_STAMP)
	SEGMENTS_RUNNER_BIN=$(abspath $(BIN)/segments) $(AIRFLOW_VENV)/bin/pytest -q --durations=10 tests/airflow runner_airflow

demo: $(RUN)
	$(BIN)/python scripts/demo.py

# Every benchmark target, a step at a time, each step's time printed (bench/run.py). The
# steps, their times on a 2-core machine and the switches (BENCH_ONLY=step,...,
# BENCH_BIG=N, BENCH_RUNS=N): README, "Benchmarks".
bench: $(DEV)
	$(BIN)/python -m bench.run

clean:
	rm -rf $(VENV) $(AIRFLOW_VENV) .mypy_cache .pytest_cache .ruff_cache exports .segments
