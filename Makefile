# Two commands: `make run` starts the whole stack locally, `make test` runs the whole suite.
# Only Python 3.11+ and make are needed; everything else is installed into .venv.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: run test bench postman clean

# Re-install when the dependency list changes.
$(VENV)/.installed-run: setup.cfg pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[local]'
	@touch $@

$(VENV)/.installed-test: setup.cfg pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[local,test]'
	@touch $@ $(VENV)/.installed-run

run: $(VENV)/.installed-run
	$(BIN)/python -m local_supabase.stack

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The production server settings under load (wrk, hey, a Node reference), a table per scenario: README, "Performance".
bench: $(VENV)/.installed-run
	$(BIN)/python -m bench.run

# The OpenAPI document as a Postman collection (see README, "API documentation").
postman: $(VENV)/.installed-run
	$(BIN)/python -m coner_api.postman > coner.postman_collection.json
	@echo "wrote coner.postman_collection.json"

clean:
	rm -rf $(VENV) .local
