# Two commands do all the set-up on a fresh machine with Python 3.11 and pip:
#   make demo   - creates .venv, installs everything, runs the demo campaign
#   make test   - creates .venv, installs everything (and Debian's chromium
#                 when it is missing and apt-get can install it), runs the tests
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: demo test install browser lint clean

$(BIN)/.installed: requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements.txt
	touch $@

install: $(BIN)/.installed

browser:
	@sh scripts/ensure_chromium.sh

demo: install
	$(BIN)/python manage.py demo

test: install browser
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest $(PYTEST_ARGS)

clean:
	rm -rf var/test_db.sqlite3 .pytest_cache screenshots
