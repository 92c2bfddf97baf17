# vedrun — `make test` sets up everything and runs every check; `make demo` shows the product.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(abspath $(VENV))/bin
export PATH := $(BIN):$(PATH)
export ANSIBLE_NOCOLOR := 1
# records made by the test targets stay in the checkout, never in a user's ~/.local/share/vedrun
TEST_HOME := VEDRUN_HOME=$(CURDIR)/.cache/test-home

.PHONY: test demo setup system checks lint syntax pytest pytest-unit pytest-lab api-image drills lab-down bench bench-drills bench-healthy clean

# the lab tests end with the lab down; the drills bring it up again and leave it down. The time of
# each stage (and of each drill) is printed at the end, pass or fail. The checks that need no lab
# (lint, the Docker-free tests, the API image's own tests; `make checks`) run one after the other
# beside the drills (a+b: at once; scripts/test-stages.sh): a drill keeps about one core busy of two
# (measured: 31-56%), and the first lab up, which builds the lab's images, has both to itself.
test:
	@bash scripts/test-stages.sh setup pytest-lab checks+drills lab-down

checks: lint pytest-unit api-image

# vedrun's own modules compiled once, as pip compiles an installed package: an editable install
# run with PYTHONDONTWRITEBYTECODE (set on some CI machines) would compile them on every command
setup: system $(VENV)/.installed
	@$(BIN)/python -m compileall -q vedrun

system:
	@bash scripts/setup-system.sh

$(VENV)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check --upgrade pip
	$(BIN)/pip install -q --disable-pip-version-check -e '.[dev]'
	@touch $@

lint: setup syntax
	$(BIN)/ruff check .
	$(BIN)/python scripts/check-code-size.py
	$(BIN)/yamllint --strict .
	$(BIN)/ansible-lint --profile production
	@echo "lint: ruff, code size, yamllint, ansible-lint (production) clean"

syntax: setup
	@for book in playbooks/*.yml; do \
	  ANSIBLE_CONFIG=ansible.cfg $(BIN)/ansible-playbook --syntax-check -i inventory/production "$$book" >/dev/null \
	    || { echo "syntax-check failed: $$book"; exit 1; }; \
	done; echo "syntax-check: $$(ls playbooks/*.yml | wc -l) playbooks ok"

pytest: setup
	$(BIN)/pytest -q -p no:cacheprovider --durations=30

# the Docker-free tests, and the lab's (real Docker, SSH, PostgreSQL, Redis): `make pytest` is both
pytest-unit: setup
	$(BIN)/pytest -q -p no:cacheprovider -m "not lab" --durations=10

pytest-lab: setup
	$(BIN)/pytest -q -p no:cacheprovider -m lab --durations=30

# the lab's Node.js API stand-in, built and tested black-box against its own PostgreSQL, Redis
# and Stripe stand-in containers, beside the lab (lab/images/api/README.md)
api-image: setup
	@bash lab/images/api/test/run.sh

drills: setup
	$(TEST_HOME) bash scripts/drills.sh

lab-down: setup
	$(TEST_HOME) $(BIN)/vedrun lab down

demo: setup
	@bash scripts/demo.sh

bench: setup
	$(BIN)/python bench/run.py
	$(BIN)/python bench/heap.py

bench-drills: setup
	$(BIN)/python bench/drills.py

bench-healthy: setup
	$(BIN)/python bench/healthy.py

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .ruff_cache
