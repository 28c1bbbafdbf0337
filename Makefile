# The two commands of the README: `make demo` and `make test`.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip

.PHONY: demo test install install-dev browser serve screenshots clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

install: $(PY)
	$(PIP) install --quiet -r requirements.txt
	$(PIP) install --quiet --no-deps -e .

install-dev: install
	$(PIP) install --quiet -r requirements-dev.txt

# Headless Chromium from Debian's packages for the browser test (no browser download).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "install Debian's chromium package for the browser test (sudo apt-get install chromium)"; fi; }

demo: install
	$(VENV)/bin/driftline demo --dir ./driftline-demo

serve: install
	$(VENV)/bin/driftline serve --config-dir ./driftline-demo

test: install-dev browser
	$(PY) -m pytest -q -n auto --dist loadfile

# The README's pictures of /report, re-taken by the browser tests into docs/.
screenshots: install-dev browser
	DRIFTLINE_SCREENSHOTS=docs $(PY) -m pytest -q tests/reports/test_browser.py

clean:
	rm -rf $(VENV) driftline-demo .pytest_cache
