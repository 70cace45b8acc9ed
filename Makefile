# One command surface for developers and CI.
SHELL := /bin/bash
# uv from PATH, else the one `make setup` installs with pip (run as a module).
UV := $(shell command -v uv 2>/dev/null || echo python3 -m uv)

PRISM := services/notifier/tests/tools/prism
AXE := tests/browser/tools/axe
OIDC := deploy/local/oidc
# The browser tests drive the system's Chromium (/usr/bin/chromium); Playwright never downloads one.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD := 1

.PHONY: setup test-tools prism oidc run stop test test-fast lint fmt typecheck bench bench-deposit bench-sign bench-notify bench-pickup bench-journey docs faults

setup:  ## install uv if missing, then the locked environment
	@$(UV) --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
	$(UV) sync --frozen

test-tools:  ## Prism (Twilio's OpenAPI mock), axe-core and the local OpenID provider from the committed npm lock files
	npm ci --no-audit --no-fund --prefix $(PRISM)
	npm ci --no-audit --no-fund --prefix $(AXE)
	npm ci --no-audit --no-fund --prefix $(OIDC)

prism:  ## Prism (Twilio's API for local SMS and calls), from its npm lock file, once
	@test -x $(PRISM)/node_modules/.bin/prism || npm ci --no-audit --no-fund --prefix $(PRISM)

oidc:  ## the local OpenID provider (oidc-provider), from its npm lock file, once
	@test -d $(OIDC)/node_modules/oidc-provider || npm ci --no-audit --no-fund --prefix $(OIDC)

run: setup prism oidc  ## infrastructure, five services, a demo letter; prints where to look
	$(UV) run python -m deploy.local.stack up

stop:  ## stop everything `make run` started
	$(UV) run python -m deploy.local.stack down

test: setup test-tools lint typecheck  ## lint, strict types, then every test on the real parts
	$(UV) run pytest

test-fast: setup  ## unit tests only
	$(UV) run pytest -m "not integration and not e2e and not browser"

lint:
	$(UV) run ruff check .
	$(UV) run ruff format --check .

fmt:
	$(UV) run ruff check --fix .
	$(UV) run ruff format .

typecheck:
	$(UV) run mypy

bench: setup  ## the bus against raw aio-pika
	$(UV) run python bench/bus.py

bench-deposit: setup  ## deposits through the archive against raw minio puts; zip memory
	$(UV) run python bench/deposit.py

bench-sign: setup  ## sealing through the signer against a naive pyHanko loop
	$(UV) run python bench/sign.py

bench-notify: setup test-tools  ## notices through the notifier against a plain aiosmtplib loop
	$(UV) run python bench/notify.py

bench-pickup: setup  ## 100 concurrent visitors through the pickup site's item-number and identity steps
	$(UV) run python bench/pickup.py

bench-journey: setup  ## the whole journey on a platform of its own: LETTERS (2000), REPLICAS (1) processes a service
	$(UV) run python bench/journey.py --letters $(or $(LETTERS),2000) --replicas $(or $(REPLICAS),1)

faults: setup  ## every fault run on private RabbitMQ/PostgreSQL/S3/SMTP, LRE_FAULT_LETTERS letters each (500)
	LRE_FAULT_MODE=long LRE_FAULT_LETTERS=$${LRE_FAULT_LETTERS:-500} $(UV) run python -m tests.faults.runs

docs: setup  ## message schemas, AsyncAPI, OpenAPI, the settings tables of OPERATIONS.md
	$(UV) run python -m docs.generate
