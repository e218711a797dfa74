# Switchboard: `make dev` runs the platform on this machine, `make test` proves it. Both install what is missing.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
UV := $(VENV)/bin/uv
STAGE ?= dev
PORT ?= 8080
CDK := npx --yes aws-cdk@2
UV_VERSION := 0.13.9
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1
# Bytecode cached once in one git-ignored folder, never beside the sources (functions/ and layers/ are Lambda assets):
# each test worker, `python -m local` and CLI process then loads compiled modules instead of compiling its imports.
export PYTHONPYCACHEPREFIX := $(CURDIR)/.pycache
unexport PYTHONDONTWRITEBYTECODE

.PHONY: dev test lint typecheck unit integration infra e2e browser chromium synth cdk-app diff deploy bootstrap destroy records bench openapi permissions layers lock clean help

help:
	@echo "make dev    run the whole platform on http://127.0.0.1:$(PORT)"
	@echo "make test   lint, type-check and run every test (unit, integration, infra, e2e)"
	@echo "make synth | bootstrap | diff | deploy | records | destroy  STAGE=dev|prod (README: Deploying)"
	@echo "make edge STAGE=dev [APPLY=1]   the Cloudflare zone: print the plan, or apply it"
	@echo "make browser   the console in headless Chromium: screenshots and axe-core in .artifacts/"
	@echo "make bench | openapi | permissions | lock"

# The venv is rebuilt only when the lock changes; uv installs the exact pinned, hash-checked set, then the project's
# own console scripts (`switchboard-ops`: only ops_cli/ is packaged, editable, without dependencies).
$(VENV)/.installed: requirements/dev.lock pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Python 3.11+ is required"; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"
	@$(UV) pip sync --quiet --python $(PY) --require-hashes requirements/dev.lock
	@$(UV) pip install --quiet --python $(PY) --no-deps -e .
	@touch $@

# Lambda's dependency layer (manylinux aarch64 wheels, no Docker); cached on the runtime lock's hash.
layers: $(VENV)/.installed
	@$(PY) infra/build_layers.py

dev: $(VENV)/.installed
	@PORT=$(PORT) $(PY) -m local

# ruff's rule set includes bandit's (S); `secrets` is the secret scanner. `make audit` (pip-audit) is separate: see there.
lint: $(VENV)/.installed secrets
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# detect-secrets over every file git tracks or would track: a finding not in .secrets.baseline fails, and so does a
# baseline entry not audited as a false positive (each one is a test fixture, a secret's name or an alphabet). The
# hook runs on a copy of the baseline: moved line numbers (its exit 3) never rewrite the committed file.
SECRETS_EXCLUDE := ^(requirements/.*\.lock|docs/openapi\.json|\.secrets\.baseline)$$
.PHONY: secrets audit
secrets: $(VENV)/.installed
	@copy=$$(mktemp) && cp .secrets.baseline $$copy && mapfile -t files < <(git ls-files --cached --others --exclude-standard) \
	&& found=$$($(VENV)/bin/detect-secrets-hook --no-verify --baseline $$copy --exclude-files '$(SECRETS_EXCLUDE)' "$${files[@]}"); \
	status=$$?; rm -f $$copy; [ $$status -eq 0 ] || [ $$status -eq 3 ] \
	|| { echo "$$found"; echo "detect-secrets: a secret not in .secrets.baseline (above): remove it; a test fixture may be marked \`# pragma: allowlist secret\`"; exit 1; }
	@$(PY) -c 'import json, sys; r = json.load(open(".secrets.baseline"))["results"]; bad = [f + ":" + str(i["line_number"]) for f, items in r.items() for i in items if i.get("is_secret") is not False]; print(f"detect-secrets: no secret beyond the {sum(map(len, r.values()))} audited false positives of .secrets.baseline") if not bad else sys.exit(f"detect-secrets: not audited as false positives in .secrets.baseline: {bad}")'

# pip-audit over both locks (hash-pinned, no resolution) against PyPI's vulnerability data, 20 s socket timeout. A
# package it cannot look up fails the run (--strict) and says which: it never passes by auditing nothing.
audit: $(VENV)/.installed
	@$(VENV)/bin/pip-audit --disable-pip --require-hashes --strict --progress-spinner off --timeout 20 \
		-r requirements/runtime.lock -r requirements/dev.lock \
	|| { echo "pip-audit failed: a known vulnerability above, or PyPI's vulnerability API (https://pypi.org/pypi/<name>/<version>/json) could not be reached"; exit 1; }

typecheck: $(VENV)/.installed
	$(VENV)/bin/mypy layers/shared/python/switchboard functions infra local ops_cli switchboard_cli app.py bench

unit: $(VENV)/.installed
	$(PY) -m pytest tests/unit -q

integration: $(VENV)/.installed
	$(PY) -m pytest tests/integration -q

infra: layers
	$(PY) -m pytest tests/infra -q

e2e: $(VENV)/.installed
	$(PY) -m pytest tests/e2e -q

# The console's browser tests (tests/browser) drive Debian's chromium through Debian's chromedriver, installed
# here when missing (as root, or through sudo); Selenium never downloads a browser or a driver of its own.
chromium:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || { \
		echo "installing Debian's chromium and chromium-driver for the browser tests"; \
		as_root=$$([ "$$(id -u)" -eq 0 ] || echo sudo); \
		$$as_root apt-get update -qq \
		&& $$as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; }

# Headless Chromium against a local stack of their own; screenshots and the axe-core summary go to .artifacts/.
browser: $(VENV)/.installed chromium
	$(PY) -m pytest tests/browser -q

# --permissions-complete: a call missing from docs/permissions.md fails the run, and so does a row no call made.
# --durations: the slowest tests, printed so CI's log shows where the time budget (20 minutes) goes.
test: lint typecheck layers chromium
	$(PY) -m pytest -q -n 2 --dist loadfile --permissions-complete --durations=40 --durations-min=5

synth: layers
	$(PY) app.py -c stage=$(STAGE)

# cdk.json's `app`: the CDK CLI runs this, so `npx aws-cdk@2 …` uses the project's venv and deps layer whatever
# `python` the shell has (setup output goes to stderr; the CLI reads the assembly from CDK_OUTDIR).
cdk-app:
	@$(MAKE) -s layers >&2
	@$(PY) app.py

# diff, deploy, bootstrap and destroy refuse a stage whose cdk.json still holds example values (infra/ops.py).
diff: layers
	@$(PY) -m infra.ops preflight $(STAGE) --action diff
	$(CDK) diff --all -c stage=$(STAGE)

deploy: layers
	@$(PY) -m infra.ops preflight $(STAGE) --action deploy
	$(CDK) deploy --all -c stage=$(STAGE) --require-approval broadening

# The stage's Cloudflare zone as code: prints the plan; APPLY=1 makes it. INPUTS=file gives the deployed stacks'
# values and the AOP certificate paths (README "Deploying"); the API token comes from CLOUDFLARE_API_TOKEN only.
.PHONY: edge
edge: $(VENV)/.installed
	@$(PY) -m infra.edge_cloudflare --stage $(STAGE) $(if $(INPUTS),--inputs $(INPUTS)) $(if $(APPLY),--apply)

# Once per stage: CDK bootstrap + the truststore stack (TRUSTSTORE_PEM=file installs certs/<stage>/aop-ca.pem).
bootstrap: layers
	@$(PY) -m infra.ops bootstrap $(STAGE) $(if $(TRUSTSTORE_PEM),--pem "$(TRUSTSTORE_PEM)")

# Removes an unprotected stage (dev) completely; a stage with any protection on in cdk.json (prod) is refused.
destroy: layers
	@$(PY) -m infra.ops destroy $(STAGE) $(if $(YES),--yes)

# The DNS records (ACM validation, SES DKIM) to add to the Cloudflare zone.
records: $(VENV)/.installed
	@$(PY) -m infra.ops records $(STAGE)

# A missed goal is printed (and makes cold_imports exit 1), but the other benchmarks still run.
bench: $(VENV)/.installed
	-$(PY) bench/cold_imports.py
	$(PY) bench/login_latency.py
	PYTHONPATH=. $(PY) bench/enumeration_timing.py
	PYTHONPATH=.:layers/shared/python $(PY) bench/messaging.py
	PYTHONPATH=.:layers/shared/python $(PY) bench/webhook_isolation.py
	$(PY) bench/files.py
	PYTHONPATH=.:layers/shared/python $(PY) bench/inbound_calls.py

# Records every AWS call of every function while the integration and e2e tests run (tests/conftest.py).
permissions: $(VENV)/.installed
	$(PY) -m pytest tests/integration tests/security tests/e2e tests/infra/test_seeder.py -q -n 2 --dist loadfile --permissions-write

openapi: $(VENV)/.installed
	$(PY) -m local.openapi docs/openapi.json

lock:
	@test -x $(UV) || { $(PYTHON) -m venv $(VENV) && $(VENV)/bin/pip install --quiet "uv==$(UV_VERSION)"; }
	$(UV) pip compile pyproject.toml --extra dev --universal --python-version 3.11 --generate-hashes -q -o requirements/dev.lock
	$(UV) pip compile pyproject.toml --universal --python-version 3.11 --generate-hashes -q -o requirements/runtime.lock

clean:
	rm -rf cdk.out layers/deps/build .pytest_cache .mypy_cache .ruff_cache
