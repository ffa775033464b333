# One command runs every check: `make test`. `make demo` shows a real export.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
RUN    := $(VENV)/.installed-run
DEV    := $(VENV)/.installed-dev

.PHONY: test lint typecheck imports pytest test-slow test-readers test-browser test-airflow demo bench clean

# Python keeps the bytecode it compiles, and pytest its rewritten test modules (their
# assert messages), only where PYTHONDONTWRITEBYTECODE is unset (empty). Where it is set (as
# on these machines), every test process and every `segments` child compiled again what it
# imported, and each of pytest's six processes rewrote every test module (about 5 s of CPU
# of the 10 a collection took, measured). What is written goes into .venv and the
# __pycache__ folders git ignores.
export PYTHONDONTWRITEBYTECODE :=

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# `make demo` needs only what running needs (about 300 MB); `make test` adds the dev tools.
$(RUN): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $(RUN)

# The dev environment is installed by uv (pinned in the dev extras, read from there): it
# downloads and links in parallel, about 9 s of CPU where pip's two steps took about 80.
# It does not byte-compile at install (--compile-bytecode: 50 s of CPU more, measured, for
# the whole 1.2 GB): Python keeps what the tests import as they first import it (about 8 s
# of CPU, the first collection; see PYTHONDONTWRITEBYTECODE above). `make demo` stays on pip: uv itself is 37 MB. pip is
# upgraded as the run step does: the tests install wheels and git URLs with the venv's pip
# (Python 3.11's bundled 23.2 fails a git+file install without build isolation).
UV_PIN := $(shell grep -o '"uv==[^"]*"' pyproject.toml | tr -d '"')

$(DEV): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet '$(UV_PIN)'
	$(BIN)/uv pip install --python $(BIN)/python --quiet --upgrade pip -e '.[dev]'
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
# 4 ~480 s, 6 ~380 s, the CPU then saturated; again 2026-12-07, pytest alone in a fresh
# clone, one after another: 4 259 s, 6 191-197 s, 8 192 s with 10 % more CPU); worksteal:
# an idle process takes a busy one's queued tests, so no process is left with a long tail.
# Tests marked `slow` (the scaffolded CI pipelines run job by job, a 9,999-part set, the
# S3 tests on rclone's server, 5 of 8 split and 3 of 4 preset superseded-file cases on
# moto's, the every-shape tests on 4 of 7 shapes) are left to `make test-slow`, which CI
# runs too: the static checks of the same CI files, the same part limit at 9 parts, every
# S3 test on moto's server (every superseded-file case locally) and every-shape tests on
# three shapes run in `make test`.
# Each process costs about 5 s of CPU before its first test (start-up, collecting every
# test and doctest; measured with 2): `make test WORKERS=4` to compare on another machine.
WORKERS ?= 6
MARKS := -m 'not slow and not readers and not browser'
# One collection alone first: what it compiles and rewrites, every test process then reads
# instead of doing it again (collection errors show in the run that follows). runner/ is
# byte-compiled whole for the `segments` children (0.6 s of CPU).
pytest: $(DEV)
	$(BIN)/python -m compileall -q runner runner_airflow tests
	$(BIN)/pytest -q --collect-only -p no:cacheprovider $(MARKS) >/dev/null || true
	$(BIN)/pytest -q -n $(WORKERS) --dist worksteal --durations=15 $(MARKS)

test-slow: $(DEV)
	$(BIN)/pytest -q -n 4 --dist worksteal --durations=15 -m slow

# The checks side by side (-j): ruff, mypy and lint-imports each hold one core for a few
# seconds (mypy about 8 s of CPU in a fresh clone), and pytest starts meanwhile; lines of
# output are not mixed (--output-sync=line). Any failing check fails `make test`.
test:
	@$(MAKE) --no-print-directory -j 4 --output-sync=line lint typecheck imports pytest

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

$(AIRFLOW_STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(AIRFLOW_VENV)
	$(AIRFLOW_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(AIRFLOW_VENV)/bin/python -m pip install --quiet -e '.[airflow]' 'pytest>=8.0' 'pytest-timeout==2.3.1'
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
