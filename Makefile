# Two commands: `make run` starts the whole stack locally, `make test` runs the whole suite.
# Only Python 3.11+ and make are needed; everything else is installed into .venv.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: run test mutation bench postman smoke clean

# newman (Postman's runner) for `make smoke`, from npm into .local/newman; tests/support/newman.py installs the
# same when missing.
NEWMAN_PACKAGE := newman@6
NEWMAN := .local/newman/node_modules/.bin/newman
SMOKE_URL ?= http://127.0.0.1:$(or $(PORT),8080)

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

$(VENV)/.installed-mutation: setup.cfg pyproject.toml $(VENV)/.installed-test
	$(BIN)/python -m pip install --quiet -e '.[local,test,mutation]'
	@touch $@

# Mutation testing of the modules that decide whether a request is let in, each against its own tests; the
# scores and survivors go to docs/mutation.md (README, "Mutation testing"). Not part of `make test`: slow.
# MODULES=tokens jwks ... runs only those (the report keeps the others' last run on this machine).
mutation: $(VENV)/.installed-mutation
	$(BIN)/python -m tests.mutation.run $(MODULES)

# The production server settings under load (wrk, hey, a Node reference), a table per scenario: README, "Performance".
bench: $(VENV)/.installed-run
	$(BIN)/python -m bench.run

# The OpenAPI document as a Postman collection (see README, "API documentation").
postman: $(VENV)/.installed-run
	$(BIN)/python -m coner_api.postman > coner.postman_collection.json
	@echo "wrote coner.postman_collection.json"

# The Postman collection run by newman against a running server (`make run` in another terminal; another one:
# SMOKE_URL=...). The collection is made from that server's own /openapi.json, so its /dev routes come first
# when it has them. Green means every request answered as the session expects, in the documented shape.
smoke: $(VENV)/.installed-run $(NEWMAN)
	@mkdir -p .local
	$(BIN)/python -m coner_api.postman --spec $(SMOKE_URL)/openapi.json --base-url $(SMOKE_URL) > .local/smoke.postman_collection.json
	$(NEWMAN) run .local/smoke.postman_collection.json --env-var baseUrl=$(SMOKE_URL) --timeout-request 15000

$(NEWMAN):
	@command -v npm >/dev/null || { echo "make smoke needs npm (Node.js) to install newman"; exit 1; }
	npm install --prefix .local/newman --no-audit --no-fund --loglevel=error $(NEWMAN_PACKAGE)

clean:
	rm -rf $(VENV) .local
