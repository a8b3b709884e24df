# Two commands for a fresh machine:
#   make quickstart   create .venv, install edgedet with everything, run the main job on the built-in data
#   make test         create .venv if needed, run the whole test suite
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.edgedet-installed

.PHONY: install quickstart test lint clean

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# torch and torchvision come from this machine's local wheel store (CUDA build, runs on CPU too)
	$(PIP) install -q torch==2.14.1 torchvision==0.29.1
	$(PIP) install -q -e ".[all]"
	touch $(STAMP)

install: $(STAMP)

quickstart: $(STAMP)
	$(VENV)/bin/edgedet quickstart

# The emulated ARM64 board (benchmarks/device/arm64_board.sh) is brought up for the ssh tests of tests/bench and
# stopped after them, unless it was up before (then it is someone's and stays). Its first `up` on a machine builds
# the arm64 root (~8 min, root and apt needed), later ones take seconds. If it cannot come up, one line says why,
# $EDGEDET_ARM64_BOARD_ERROR carries the reason and those tests skip with it: `make test` does not fail for it.
BOARD := benchmarks/device/arm64_board.sh

test: $(STAMP) android-deps demo-deps
	@board_error=""; was_up=0; $(BOARD) status >/dev/null 2>&1 && was_up=1; \
	if [ $$was_up = 0 ]; then \
	  trap '$(BOARD) down >/dev/null 2>&1' EXIT; trap 'exit 130' INT TERM; \
	  log=$$(mktemp -t edgedet-arm64-board.XXXXXX); \
	  echo "arm64 board: bringing it up for the ssh tests (the first time on a machine ~8 min, then seconds)"; \
	  if PYTHON=$(abspath $(PY)) $(BOARD) up >$$log 2>&1; then echo "arm64 board: up"; rm -f $$log; \
	  else board_error="$$(tail -n 1 $$log) (log: $$log)"; \
	    echo "arm64 board: not started, the ssh tests will skip: $$board_error"; fi; \
	else echo "arm64 board: already up, the ssh tests use it and leave it running"; fi; \
	EDGEDET_ARM64_BOARD_ERROR="$$board_error" $(PY) -m pytest -q -p no:cacheprovider
	$(MAKE) --no-print-directory android-ci

lint: $(STAMP)
	$(VENV)/bin/ruff check edgedet tests benchmarks

clean:
	rm -rf $(VENV) runs .pytest_cache

# --- Android demo (android_demo/, see README "Android demo") ---
.PHONY: android-deps android-test android-apk android-ci
ANDROID_BUILD := android_demo/build

# a JDK and Debian's junit4 jar for the core's JUnit tests; a no-op where they are installed
android-deps:
	@command -v javac >/dev/null && test -f /usr/share/java/junit4.jar || \
	  apt-get install -y -q default-jdk-headless junit4 >/dev/null 2>&1 || \
	  { apt-get update -qq && apt-get install -y -q default-jdk-headless junit4 >/dev/null; } || \
	  echo "android-deps: could not install a JDK and junit4; the Java tests will be skipped"

# fixtures from the Python runtime, then the JUnit tests of android_demo/core ('N passed, N failed')
android-test: $(STAMP) android-deps demo-deps
	rm -rf $(ANDROID_BUILD)/fixtures
	PYTHONPATH=. $(PY) -m tests.android.make_fixtures $(ANDROID_BUILD)/fixtures
	android_demo/core/run_tests.sh $(ANDROID_BUILD)/fixtures

# the demo APK with Debian's SDK tools, against a compile-only LiteRT stub (checks the sources build)
android-apk:
	android_demo/build_offline.sh

# what `make test` runs after pytest: CI's 'N passed, N failed' line and the APK check
android-ci:
	@if command -v javac >/dev/null && test -f /usr/share/java/junit4.jar; then \
	  $(MAKE) --no-print-directory android-test android-apk; \
	else echo "android-ci: skipped, no JDK or junit4 (make android-deps)"; fi

# --- desktop demo (edgedet predict / demo, see README "Predict and demo") ---
.PHONY: demo-deps
# an X server, a screenshot tool and a key sender for the real-window test of `edgedet demo`; a no-op where present
demo-deps:
	@command -v Xvfb >/dev/null && command -v xwd >/dev/null && command -v xdotool >/dev/null || \
	  apt-get install -y -q xvfb x11-apps xdotool >/dev/null 2>&1 || \
	  { apt-get update -qq && apt-get install -y -q xvfb x11-apps xdotool >/dev/null; } || \
	  echo "demo-deps: could not install xvfb, x11-apps and xdotool; the window tests will be skipped"
