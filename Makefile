# TGrad lab. `make help` lists the targets. `make bench` and `make test` each do all set-up first.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON_SYS ?= python3
VENV       := .venv
PY         := $(VENV)/bin/python
PIP        := $(PY) -m pip
CARGO      ?= cargo
STAMP      := $(VENV)/.stamp
# every file the crates read: Rust sources, manifests, and the C, CUDA, Metal and certificate-model
# templates they include (include_str!), so editing a template rebuilds the wheel
RUST_SRC   := $(shell find tgrad_ext/Cargo.toml tgrad_ext/Cargo.lock tgrad_ext/crates \( -path '*/target' -o -path '*/tests' -o -path '*/examples' \) -prune -o -type f -print 2>/dev/null)
PY_SRC     := $(shell find tgrad_ext/python -name '*.py' -o -name '*.pyi' -o -name 'py.typed' 2>/dev/null)
CARGO_MANIFEST := tgrad_ext/Cargo.toml

.PHONY: help setup setup-torch sysdeps test test-rust test-py test-exhaustive test-fast bench bench-odd bench-quick bench-pytest lint fmt clean distclean \
        check-regressions report diff peak bench-gpu bench-gpu-emu gpu-wheels robustness certify certify-check

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN{FS=":.*## "}{printf "  make %-18s %s\n", $$1, $$2}'

# ---------------------------------------------------------------- set-up (idempotent: stamps)
setup: $(STAMP)/tgrad ## create .venv, install system packages and Python deps, build tgrad (release)

sysdeps: ## install the C compiler (clang) that tinygrad's CPU backend and tgrad's CPU compiler use
	@bash .ci/sysdeps.sh

$(STAMP)/sys: .ci/sysdeps.sh
	@bash .ci/sysdeps.sh
	@mkdir -p $(STAMP) && touch $@

$(PY):
	@$(PYTHON_SYS) -m venv $(VENV) || { echo "error: '$(PYTHON_SYS) -m venv' failed; on Debian: apt-get install -y python3-venv"; exit 1; }
	@$(PIP) install -q --upgrade pip

# optional dependency groups that setup leaves out (each has a target of its own)
NOT_IN_SETUP := torch-cpu

$(STAMP)/deps: pyproject.toml | $(PY) $(STAMP)/sys
	@# one source of truth for versions: the build requirement and the dependency groups in pyproject.toml
	$(PY) -c "import tomllib; d = tomllib.load(open('pyproject.toml', 'rb')); \
	  groups = [g for n, g in d['project'].get('optional-dependencies', {}).items() if n not in '$(NOT_IN_SETUP)'.split()]; \
	  print('\n'.join(d['build-system']['requires'] + d['project']['dependencies'] + sum(groups, [])))" > $(VENV)/requirements.txt
	$(PIP) install -q -r $(VENV)/requirements.txt
	@mkdir -p $(STAMP) && touch $@

$(STAMP)/tgrad: $(STAMP)/deps $(RUST_SRC) $(PY_SRC) pyproject.toml
	@command -v $(CARGO) >/dev/null || { echo "error: cargo (the Rust toolchain) is not on PATH; install it with rustup (https://rustup.rs) or 'apt-get install -y cargo'"; exit 1; }
	$(PIP) install -q --no-deps --no-build-isolation --force-reinstall .
	@mkdir -p $(STAMP) && touch $@

# ---------------------------------------------------------------- tests
test: setup test-rust test-py certify-check ## all tests: Rust unit/golden tests, pytest (CPU; GPU tests skip with a reason), certificates

# VIRTUAL_ENV lets the GPU render tests find NVRTC in the venv's NVIDIA wheels (compile-only, no GPU).
# The debug pass runs every debug_assert! (the IR verifiers run in both); the release pass is what ships.
test-rust: $(STAMP)/deps
	VIRTUAL_ENV=$(abspath $(VENV)) $(CARGO) test --manifest-path $(CARGO_MANIFEST) --workspace --exclude tgrad-py
	VIRTUAL_ENV=$(abspath $(VENV)) $(CARGO) test --release --manifest-path $(CARGO_MANIFEST) --workspace --exclude tgrad-py

# the CUDA compile-only checks must run (not skip) wherever the gpu-check wheels are installed
test-py: setup
	TGRAD_REQUIRE_GPU_CHECK=1 $(PY) -m pytest -q

test-exhaustive: setup ## the long property sweeps (gradients of every op over many examples)
	$(PY) -m pytest -q -m exhaustive

test-fast: setup ## pytest without the slow tests
	$(PY) -m pytest -q -m "not slow"

# ---------------------------------------------------------------- kernel certificates
certify: $(STAMP)/deps ## prove every CPU kernel template's obligations with z3 and rewrite certificates/ (a few minutes)
	$(PY) tools/certify.py prove --out certificates

# fails when a committed certificate no longer matches the templates (then run `make certify`), and
# re-proves a seeded sample of the committed obligations
CERTIFY_SAMPLE ?= 40
certify-check: $(STAMP)/deps ## the committed certificates match the sources; re-prove a sample of them
	$(PY) tools/certify.py stale --sample $(CERTIFY_SAMPLE)

# ---------------------------------------------------------------- the lab
# engines alternate BENCH_ROUNDS times per scenario, so a noisy stretch on a shared machine hits every
# engine alike; each cell's median is that of its rounds' medians and its CI resamples rounds (about 10
# minutes per round here; the table marks CIs from fewer than 5 rounds as rough)
BENCH_ROUNDS ?= 3
bench: setup ## the lab table B1-B6 (tinygrad eager/jit/beam, tgrad, numpy), results/latest.md
	$(PY) -m harness run scenarios/five.toml --rounds $(BENCH_ROUNDS)

# tinygrad's eager first call at 4097^3 takes ~9 minutes here, so by default the odd shapes compare
# tgrad with numpy (the issue's target); ODD_ENGINES= (empty) runs every engine in odd.toml (hours)
ODD_ENGINES ?= tgrad,tgrad-1t,numpy
bench-odd: setup ## odd shapes (1000x777x513, 1x4096x4096, 4097^2, W.T, broadcast batch) vs numpy, results/latest-odd.md
	$(PY) -m harness run scenarios/odd.toml --rounds $(BENCH_ROUNDS) $(if $(ODD_ENGINES),--engines $(ODD_ENGINES))

# On a GPU machine without Rust, install the carried wheels into a venv that sees the system's torch
# and point PY at it (docs/gpu.md): make bench-gpu PY=/tmp/gpuvenv/bin/python
bench-gpu: $(if $(filter $(VENV)/bin/python,$(PY)),setup) ## the GPU table: tinygrad CUDA, tgrad CUDA, torch (results/latest-gpu.md; cells say why where no GPU)
	$(PY) -m harness run scenarios/gpu.toml --rounds $(BENCH_ROUNDS)

# GPU kernels on the CPU (scenarios/gpu-emu.toml): tgrad's emulated CUDA and Metal against tinygrad's PYTHON
# emulator and its OpenCL backend on PoCL, which tools/opencl_sysdeps.sh installs first (as root; otherwise the
# tinygrad-cl cells say what is missing). One round: tinygrad's PYTHON device needs about a minute a call at 256^3.
GPU_EMU_ROUNDS ?= 1
bench-gpu-emu: setup ## GPU kernels on the CPU: tgrad's CUDA/Metal emulator vs tinygrad's PYTHON emulator and CL on PoCL (installs PoCL; results/latest-gpu-emu.md)
	@bash tools/opencl_sysdeps.sh
	$(PY) -m harness run scenarios/gpu-emu.toml --rounds $(GPU_EMU_ROUNDS)

gpu-wheels: setup ## .whl/: tgrad's abi3 wheel and the pinned tinygrad wheel, to carry to a GPU machine
	rm -rf .whl && mkdir -p .whl
	$(PIP) wheel -q --no-deps --no-build-isolation -w .whl .
	$(PIP) download -q --no-deps -d .whl "$$($(PY) -c "import tomllib; d = tomllib.load(open('pyproject.toml', 'rb')); \
	  print(next(r for g in d['project']['optional-dependencies'].values() for r in g if r.startswith('tinygrad')))")"
	@# the commit the wheels come from, for the run records of a machine whose copy of the tree has no .git
	@echo "$$(git rev-parse HEAD)$$(git diff --quiet HEAD -- . ':(exclude)results' || echo +dirty)" > .whl/COMMIT
	@ls -l .whl && cat .whl/COMMIT

setup-torch: setup ## add the optional torch-cpu group (PyTorch, several GB) for the lab's torch engine
	$(PY) -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['optional-dependencies']['torch-cpu']))" > $(VENV)/requirements-torch.txt
	$(PIP) install -q -r $(VENV)/requirements-torch.txt

bench-quick: setup ## B1-B6 at a small budget (CI); BEAM cells left out
	$(PY) -m harness run scenarios/five.toml --quick

bench-pytest: setup ## the five benchmarks as pytest-benchmark tests (--benchmark-compare works)
	$(PY) -m pytest -q -m bench --benchmark-enable -p no:randomly tests/harness/test_bench_pytest.py

# the full corpus (every case against tgrad, every API case against tinygrad; ~10 minutes here) and its report
robustness: setup ## the bad-input corpus of issue 18 in full, against tgrad and tinygrad; writes results/robustness.md
	$(PY) tests/robust/corpus_report.py --profile full --out results/robustness.md

diff: setup ## property-based differential campaign tinygrad vs tgrad
	$(PY) -m harness diff

peak: setup ## the machine's measured FP32 peak (FMA loop) and memory bandwidth (streaming read), into the history
	$(PY) -m harness peak

check-regressions: setup ## newest run vs the previous one on this machine (results/check.json); fails on a regression
	$(PY) -m harness check

report: setup ## plots (PNG) and an HTML page of the newest run in the history, under results/report/
	$(PY) -m harness plots

# ---------------------------------------------------------------- hygiene
lint: $(STAMP)/tgrad ## ruff, mypy (harness/, strict), cargo clippy -D warnings, cargo fmt --check, the line budget
	$(PY) tools/line_budget.py
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(CARGO) fmt --manifest-path $(CARGO_MANIFEST) --all -- --check
	$(CARGO) clippy --release --manifest-path $(CARGO_MANIFEST) --workspace --all-targets -- -D warnings

fmt: $(STAMP)/deps ## apply ruff format and cargo fmt
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .
	$(CARGO) fmt --manifest-path $(CARGO_MANIFEST) --all

clean: ## remove build outputs (keeps .venv and results)
	rm -rf tgrad_ext/target build .pytest_cache .ruff_cache .hypothesis $(STAMP)/tgrad
	find . -name __pycache__ -prune -exec rm -rf {} +

distclean: clean ## also remove .venv
	rm -rf $(VENV)
