# The two Quickstart commands: `make demo` and `make test`. Both set everything up first.
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: setup demo test lint typecheck pytest compliance compliance-check diagrams docs bench clean

setup:
	bash scripts/setup.sh

demo: setup
	$(VENV)/bin/pystack demo

lint:
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck:
	$(VENV)/bin/mypy

# The run also records how the tests marked requirement(...) ended, so that the
# compliance check below reuses them instead of running those tests again.
RESULTS := .pytest-requirements.json

pytest:
	$(PY) -m pytest -q -ra --requirements-results $(RESULTS)

# docs/compliance.md must match the tests: fails when it is stale or a marked test failed.
compliance-check:
	$(VENV)/bin/pystack compliance --check --results $(RESULTS)

# Regenerate docs/compliance.md (runs the marked tests, about 10 s).
compliance: setup
	$(VENV)/bin/pystack compliance

test: setup lint typecheck pytest compliance-check

diagrams: setup
	$(VENV)/bin/pystack diagrams

# The documentation site, built into site/ (open site/index.html). Strict: a broken link
# or reference fails the build, as it fails the tests.
docs: setup
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

bench: setup
	$(VENV)/bin/pystack bench codecs

clean:
	rm -rf $(VENV) build site *.egg-info .pytest_cache .mypy_cache .hypothesis $(RESULTS)
