# MuZero-Lite. `make run` and `make test` create .venv and install requirements.txt on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements.txt .python-version | cksum | cut -d' ' -f1)
CONFIG ?= configs/mario.toml

.PHONY: run selfplay train test lint format bench clean-data

# The trainer plus self-play workers (one per core beyond the first), one combined progress view.
run: $(STAMP)
	$(PY) launch.py --config $(CONFIG)

selfplay: $(STAMP)
	$(PY) selfplay.py --config $(CONFIG)

train: $(STAMP)
	$(PY) train.py --config $(CONFIG) --resume

test: $(STAMP)
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: $(STAMP)
	$(PY) bench/selfplay_speed.py --json bench/results/selfplay_speed.json

$(STAMP): requirements.txt .python-version
	@$(PYTHON) -c 'import sys; v = sys.version_info[:2]; sys.exit(0 if v == (3, 13) else f"MuZero-Lite needs Python 3.13 (found {v[0]}.{v[1]}): install it, e.g. pyenv install 3.13, or run make PYTHON=python3.13")'
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

clean-data:
	rm -rf games gifs checkpoints
