# The two commands a fresh clone needs:
#   make lab    create .venv if missing, install the course, open JupyterLab on notebooks/
#   make test   create .venv if missing, install the course, run every check (lint, unit tests, notebooks)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NB ?= notebooks

.PHONY: lab test lint unit notebooks notebook execute clean-venv

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# The crf extra (pydensecrf2, the reference C++ CRF) compiles from source; lessons work without it.
	$(BIN)/python -m pip install -q -e '.[lab,test,crf,export]' || { \
		echo "note: pydensecrf2 could not be built; installing without it (lesson 09 skips the reference comparison)"; \
		$(BIN)/python -m pip install -q -e '.[lab,test,export]'; }
	# Colab ships ipywidgets 7.7: keep a copy beside the venv so tests can prove the widgets work with it too
	$(BIN)/python -m pip install -q --no-deps --upgrade --target $(VENV)/ipywidgets7 'ipywidgets==7.7.*' 'widgetsnbextension==3.6.*' 'jupyterlab_widgets==1.1.*' 'ipython_genutils==0.2.*'
	touch $(STAMP)

# Jupyter refuses to run as root unless told; containers and WSL often run as root.
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root)

lab: $(STAMP)
	$(BIN)/jupyter lab $(ALLOW_ROOT) notebooks/

test: $(STAMP)
	$(BIN)/ruff check dlcourse tests notebooks benchmarks
	$(BIN)/ruff format --check dlcourse tests benchmarks
	bash .ci/pytest $(BIN)/python tests
	DLCOURSE_FAST=1 bash .ci/pytest $(BIN)/python --nbval-lax notebooks

lint: $(STAMP)
	$(BIN)/ruff check dlcourse tests notebooks benchmarks
	$(BIN)/ruff format --check dlcourse tests benchmarks

unit: $(STAMP)
	$(BIN)/python -m pytest tests

# One notebook's checks: make notebook NB=notebooks/01_receptive_fields.ipynb
notebook: $(STAMP)
	DLCOURSE_FAST=1 $(BIN)/python -m pytest --nbval-lax -p no:cacheprovider $(NB)

# Re-run a notebook top to bottom and save its outputs: make execute NB=notebooks/00_setup_and_tour.ipynb
execute: $(STAMP)
	$(BIN)/python -m dlcourse.notebook_tools execute $(NB)

clean-venv:
	rm -rf $(VENV)
