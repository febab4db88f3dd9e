# ftlab: one command to set up, one to test, one to see fine-tuning work.
#   make test   create .venv if needed, install ftlab with its dev extra, run every check
#   make demo   create .venv if needed, run the car-to-truck example
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Quiet TensorFlow's C++ start-up logs (they go to stderr and clutter every run).
export TF_CPP_MIN_LOG_LEVEL ?= 3

.PHONY: setup test lint format demo exercises clean

setup: $(VENV)/.installed

# Reinstall whenever the dependencies change.
$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

test: lint
	$(BIN)/python -m pytest -n 2 --dist loadfile

demo: setup
	$(BIN)/ftlab car-to-truck --out runs/car-to-truck

# Rebuild exercises/ (student notebooks, tests, autograder zips) from notebooks/;
# otter grades each solution notebook and the build fails unless it scores 100 %.
exercises: setup
	$(BIN)/python scripts/build_exercises.py

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache .hypothesis
