# slide: `make demo` and `make test` do all set-up themselves (a virtualenv in .venv,
# build of the Cython extensions, install), then run.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
SOURCES := setup.py setup.cfg pyproject.toml $(wildcard slide_fast/_kernels/*.pyx) \
           $(wildcard slide_fast/_kernels/*.pxd) $(wildcard slide_fast/_simd/*.h)
PYTEST_ARGS ?=

EMU    := build/simd-emulated
DBG    := build/debug
FUZZ_ARGS ?=

.PHONY: install demo test test-all test-simd-emulated bench bench-quick clean
.PHONY: test-fuzz test-debug-build

install: $(STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python $(SOURCES)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "setuptools>=68" wheel "Cython>=3.0" "numpy>=2.0" "scipy>=1.10"
	$(BIN)/python -m pip install -q --no-build-isolation -e ".[test,plots,bench]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/slide demo

# the fast selection (every module, both backends, every SIMD level); slow tests: make test-all
test: $(STAMP)
	$(BIN)/python -m pytest -m "not slow and not fuzz" -q $(PYTEST_ARGS)
	cd asv_bench && ../$(BIN)/asv check -E existing:../$(BIN)/python

test-all: $(STAMP)
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

# the fast selection again on a build where SIMDe emulates every SIMD level (AVX2, AVX-512,
# AVX512-BF16), so kernels this CPU cannot run are still checked against the reference
# (slow: a test build in $(EMU), never installed)
test-simd-emulated: $(STAMP)
	$(BIN)/python -m pip install -q "simde-py>=0.8.2"
	rm -rf $(EMU) $(EMU)-tmp && mkdir -p $(EMU)
	cp -r slide_ref slide_fast $(EMU)/
	find $(EMU) \( -name '*.so' -o -name '*.c' -o -name '__pycache__' \) -prune -exec rm -rf {} +
	SLIDE_SIMD_EMULATE=1 $(BIN)/python setup.py -q build_ext -j 2 --force \
	  --build-lib $(EMU) --build-temp $(EMU)-tmp >$(EMU)-build.log 2>&1 || \
	  { tail -30 $(EMU)-build.log; exit 1; }
	cd $(EMU) && ../../$(BIN)/python -c "import slide_fast as s; assert s._kernels._cpu.emulated(), s.__file__"
	cd $(EMU) && ../../$(BIN)/python -m pytest ../../tests -m "not slow" -q -p no:cacheprovider $(PYTEST_ARGS)

# the fuzz suite (tests/fuzz): hostile input to every public entry point of both backends, each
# risky case in a child process so crashes and hangs are counted; writes build/fuzz-report.json.
# SLIDE_FUZZ_SCALE=10 widens the campaign; the seed stays fixed for reproducibility
test-fuzz: $(STAMP)
	$(BIN)/python -m pytest tests/fuzz -m fuzz -q -p no:cacheprovider --hypothesis-seed=16 $(FUZZ_ARGS)

# the fast selection and the fuzz suite on a build with Cython's bound, wraparound and
# initialization checks on (SLIDE_DEBUG_CYTHON=1): an index a kernel trusts but should not
# raises IndexError there instead of corrupting memory (a test build in $(DBG), never installed)
test-debug-build: $(STAMP)
	rm -rf $(DBG) && mkdir -p $(DBG)
	cp -r slide_ref slide_fast setup.py setup.cfg pyproject.toml README.md $(DBG)/
	find $(DBG) \( -name '*.so' -o -name '*.c' -o -name '__pycache__' \) -prune -exec rm -rf {} +
	cd $(DBG) && SLIDE_DEBUG_CYTHON=1 $(abspath $(BIN))/python setup.py -q build_ext -j 2 --inplace \
	  >build.log 2>&1 || { tail -30 build.log; exit 1; }
	# the checks are in: an optimized build calls no buffer-index error at all
	test "$$(cat $(DBG)/slide_fast/_kernels/*.c | grep -c __Pyx_RaiseBufferIndexError)" -gt 100
	cd $(DBG) && $(abspath $(BIN))/python -c "import slide_fast as s; assert '$(DBG)' in s.__file__, s.__file__"
	cd $(DBG) && $(abspath $(BIN))/python -m pytest ../../tests -m "not slow and not fuzz" -q \
	  -p no:cacheprovider $(PYTEST_ARGS)
	cd $(DBG) && SLIDE_FUZZ_REPORT=fuzz-report.json $(abspath $(BIN))/python -m pytest ../../tests/fuzz \
	  -m fuzz -q -p no:cacheprovider --hypothesis-seed=16 $(FUZZ_ARGS)

# run every benchmark once against the installed package (a smoke test, not a measurement)
bench-quick: $(STAMP)
	cd asv_bench && ../$(BIN)/asv machine --yes >/dev/null && \
	  SLIDE_BENCH_QUICK=1 ../$(BIN)/asv run -E existing:../$(BIN)/python --quick --dry-run --show-stderr

bench: $(STAMP)
	cd asv_bench && ../$(BIN)/asv machine --yes >/dev/null && \
	  ../$(BIN)/asv run -E existing:../$(BIN)/python --show-stderr

clean:
	rm -rf $(VENV) build *.egg-info slide_fast/_kernels/*.c slide_fast/_kernels/*.so

# the real data sets, built from Debian's archive through apt into $(SLIDE_DATA) or
# ~/.cache/slide (never into the repository; see docs/data.md)
.PHONY: data
data: $(STAMP)
	$(BIN)/python -m slide_ref.build_data --sets xc,text,fmnist,zsl
