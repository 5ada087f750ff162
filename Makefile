# regauth — `make run` serves a demo, `make test` runs the whole suite, `make bench` measures.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
SUM    := $(shell cksum pyproject.toml | cut -d' ' -f1)
# serving dependencies only (make run) / with the test tools (make test, lint, bench)
RUN_STAMP := $(VENV)/.serving-$(SUM)
STAMP  := $(VENV)/.installed-$(SUM)
# make run PORT=5002 serves (and, on the first run, configures) another port
PORT   ?=
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_PACKAGES := docker-registry skopeo containerd slapd ldap-utils docker.io podman buildah \
	postgresql debootstrap curl jq chromium docker-compose
# node and npm run the test identity provider (oidc-provider); installed only when missing
NODE_PACKAGES := $(shell command -v npm >/dev/null || echo nodejs npm)

.PHONY: run test lint typecheck unit bench screenshots system-deps clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	rm -f $(VENV)/.installed-* $(VENV)/.serving-*
	touch $@ $(RUN_STAMP)

$(RUN_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e .
	rm -f $(VENV)/.serving-*
	touch $@

run: $(RUN_STAMP)
	@test -f var/regauth.toml || $(BIN)/regauth init --dir var $(if $(PORT),--port $(PORT))
	$(if $(PORT),REGAUTH_SERVER__PORT=$(PORT)) $(BIN)/regauth --config var/regauth.toml serve

system-deps:
	@if ! command -v docker-registry >/dev/null || ! command -v skopeo >/dev/null \
	    || ! command -v ctr >/dev/null || ! command -v /usr/sbin/slapd >/dev/null \
	    || ! command -v ldapadd >/dev/null || ! command -v npm >/dev/null \
	    || ! command -v /usr/sbin/dockerd >/dev/null || ! command -v /usr/bin/docker >/dev/null \
	    || ! command -v podman >/dev/null || ! command -v buildah >/dev/null \
	    || ! test -x /usr/lib/postgresql/15/bin/initdb || ! command -v debootstrap >/dev/null \
	    || ! command -v curl >/dev/null || ! command -v jq >/dev/null \
	    || ! command -v /usr/bin/chromium >/dev/null \
	    || ! command -v docker-compose >/dev/null; then \
	  echo "installing $(APT_PACKAGES) with apt"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $(APT_PACKAGES) $(NODE_PACKAGES) >/dev/null; \
	fi

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

# the package and the tests, then the benchmarks (scripts, not a package: checked as files)
typecheck: $(STAMP)
	$(BIN)/mypy
	$(BIN)/mypy bench/*.py

unit: $(STAMP)
	$(BIN)/pytest -m "not e2e"

# The whole suite: ruff and mypy run in the background while the tests run on TEST_WORKERS
# pytest-xdist workers (one test module per unit of work, the longest modules first); then
# the tests marked `serial` (timings, load) run alone. Every part runs; any failure fails.
TEST_WORKERS ?= 4
test: $(STAMP) system-deps
	@$(MAKE) --no-print-directory lint typecheck > $(VENV)/static-checks.log 2>&1 & checks=$$!; \
	status=0; \
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadscope --no-loadscope-reorder -m "not serial" \
	  --durations=15 || status=1; \
	wait $$checks || checks=failed; \
	cat $(VENV)/static-checks.log; \
	if [ "$$checks" = failed ]; then echo "make test: lint or typecheck failed"; status=1; fi; \
	$(BIN)/pytest -m serial --durations=5 || status=1; \
	exit $$status

# Refresh docs/screenshots/ from the browser tests (Playwright driving /usr/bin/chromium).
screenshots: $(STAMP) system-deps
	REGAUTH_UPDATE_SCREENSHOTS=1 $(BIN)/pytest -m browser -q

bench: $(STAMP)
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
