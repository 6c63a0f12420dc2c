# kefu: `make demo` to try it, `make test` for everything CI runs.
# Needs python3 (3.11+), bash and make; Node.js 20.19+ and npm for the web UI.

SHELL := /bin/bash
.DEFAULT_GOAL := help

# The PostgreSQL the tests use besides SQLite: the local one when it answers.
PG_DEFAULT := postgresql://postgres@127.0.0.1:5432/test
KEFU_TEST_POSTGRES_URL ?= $(shell command -v pg_isready >/dev/null 2>&1 && pg_isready -q -h 127.0.0.1 -p 5432 && echo $(PG_DEFAULT))
export KEFU_TEST_POSTGRES_URL

.PHONY: help bootstrap frontend demo test check bench lock

help:
	@echo "make demo   install, build the UI, and run a demo merchant on http://127.0.0.1:8000"
	@echo "make test   ruff, mypy and pytest on SQLite (and PostgreSQL when it answers)"
	@echo "make bench  run the benchmarks (python -m bench); make bench-smoke: a quick check that they run"
	@echo "make lock   regenerate requirements.lock and requirements-dev.lock"

bootstrap:
	@scripts/bootstrap

frontend:
	@scripts/build-frontend

demo: bootstrap frontend
	.venv/bin/kefu demo

check: bootstrap
	scripts/check

test: bootstrap frontend
	scripts/check
	@if [ -d tests/browser ]; then scripts/ensure-chromium; fi
	@echo "pytest: SQLite$${KEFU_TEST_POSTGRES_URL:+ and PostgreSQL ($$KEFU_TEST_POSTGRES_URL)}"
	.venv/bin/pytest

bench-deps: bootstrap
	@if command -v uv >/dev/null 2>&1; then uv=uv; else uv=.venv/bin/uv; fi; \
	$$uv pip install --quiet -p .venv -r bench/requirements.lock

bench: bench-deps
	.venv/bin/python -m bench

# What CI runs: every target and scenario at tiny sizes, to prove the suite works (not its numbers).
bench-smoke: bench-deps
	.venv/bin/python -m bench --smoke --out bench/results/ci

lock:
	@if command -v uv >/dev/null 2>&1; then uv=uv; else scripts/bootstrap && uv=.venv/bin/uv; fi; \
	$$uv pip compile --quiet --no-header pyproject.toml -o requirements.lock && \
	$$uv pip compile --quiet --no-header --extra dev pyproject.toml -o requirements-dev.lock
