# The two commands of the quick start: `make run` and `make test`.
# Every install step lives here, so a fresh clone on a fresh machine works.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
CHROMIUM ?= /usr/bin/chromium

.PHONY: run test lint format install chromium bench bench-server soak clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/reminder db upgrade
	$(BIN)/reminder demo --if-empty
	$(BIN)/reminder run --dev

# Browser tests drive Debian's Chromium; Playwright's own download is not possible here.
chromium:
	@test -x $(CHROMIUM) || { \
	  echo "Installing Debian's chromium for the browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

# The ten slowest tests are listed so a slow one shows (the suite took 151-178 s at session 3's end).
test: $(STAMP) chromium
	$(BIN)/python -m pytest -n 2 --durations=10

# The habits CI holds us to: ruff's checks (pyproject.toml [tool.ruff]) and its formatting.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(STAMP)
	$(BIN)/python bench/bench.py

# Requests per second on the production server (gunicorn): a bare Flask route, Today, confirm.
bench-server: $(STAMP)
	$(BIN)/python bench/bench_server.py

# 500 kills of the worker's tick at random moments; prints the harm counts (targets 0/0/0/0).
soak: $(STAMP)
	$(BIN)/python bench/soak.py

clean:
	rm -rf $(VENV) *.egg-info
