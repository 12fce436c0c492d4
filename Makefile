# data-stack-k8s — the one task runner. `make help` lists every target.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
# The stamp changes when the Python lock changes, so `make` reinstalls only then.
VENV_STAMP := $(VENV)/.stamp-$(shell cat apps/pyproject.toml | sha256sum | cut -c1-12)
LOCAL := .local

# `make run SOURCE=synthetic` works offline; any job variable can be passed the same way.
SOURCE ?=
START ?=
END ?=
PYTEST_ARGS ?=
# port of the throwaway PostgreSQL that `make run` starts when ANALYTICS_DSN is unset
PG_PORT ?= 54329

export MEDALLION_JARS_DIR ?= $(CURDIR)/.cache/jars
# the driver JVM's class-data-sharing archive of this clone (`make cds`)
CDS_DIR ?= $(CURDIR)/.cache/cds
# Points the Spark JVMs a recipe starts at that archive, only when it exists (given a
# missing path, every JVM would write it when it ends) and never over the caller's own.
USE_CDS = if [[ -z "$${SPARK_CDS_ARCHIVE:-}" ]] \
  && archive="$$($(PY) -m medallion.common.cds path $(CDS_DIR))"; then \
  export SPARK_CDS_ARCHIVE="$$archive"; fi

##@ Quick start
.PHONY: run
run: setup-run ## Run ingest → silver → gold → publish (SOURCE=synthetic for offline; START/END=YYYY-MM-DD)
	@if [[ -z "$${ANALYTICS_DSN:-}" ]]; then \
	  tools/install-postgres.sh >/dev/null; \
	  pg_env="$$($(PY) tools/servers.py postgres start --dir $(LOCAL)/postgres --port $(PG_PORT))" || exit 2; \
	  eval "$$pg_env"; \
	  export ANALYTICS_DSN; echo "publishing to the local PostgreSQL at $$ANALYTICS_DSN (make stop ends it)"; \
	fi; \
	$(USE_CDS); \
	$(if $(SOURCE),MARKET_SOURCE=$(SOURCE)) $(VENV)/bin/medallion run \
	  $(if $(START),--start $(START)) $(if $(END),--end $(END)) --report reports/latest

.PHONY: test
test: setup ## Run the whole test suite (unit, integration on real servers, manifests, DAGs, the cluster tier and the fault suite alongside)
	@CDS_DIR=$(CDS_DIR) tools/run-tests.sh $(PYTEST_ARGS)

##@ Setup (each step is a no-op when already done)
.PHONY: setup setup-run venv jars cds minio postgres chromium manifest-tools ci-tools airflow cluster-tools
setup: setup-run minio postgres chromium manifest-tools ci-tools airflow cluster-tools ## Install everything the tests need

setup-run: venv jars cds ## Install what `make run` needs (venv, Spark jar closure, the driver JVM's CDS archive)

venv: $(VENV_STAMP) ## Create .venv with the pinned Python packages
$(VENV_STAMP): apps/pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q pip==26.3
	$(PY) -m pip install -q -e apps --group apps/pyproject.toml:test
	@rm -f $(VENV)/.stamp-* && touch $@

jars: venv ## Fetch the pinned Spark/Delta/S3A jar closure from Maven into .cache/jars
	@PYTHON=$(PY) tools/fetch-jars.sh

# Only for this clone's JVM and jars (paths included), so built here, not downloaded; a
# failed build leaves no archive and Spark starts without one.
cds: venv jars ## Build the driver JVM's class-data-sharing archive into .cache/cds when missing or stale (~1.5 min once)
	@archive="$$($(PY) -m medallion.common.cds ensure $(CDS_DIR))" && echo "cds: $$archive" \
	  || echo "cds: WARNING: no class-data-sharing archive (above: why); Spark stages start without it" >&2

minio: ## Build the pinned MinIO server from its Go module into .cache/bin
	@tools/install-minio.sh

postgres: ## Install PostgreSQL server binaries (Debian package) if missing
	@tools/install-postgres.sh

chromium: ## Install Debian's chromium (headless) for the report test, if missing
	@tools/install-chromium.sh

manifest-tools: venv ## Install kustomize 5.8.3, Argo CD's manifest and CRD schemas, kubeconform, checkov, yamllint
	@PYTHON=$(PY) tools/manifest-tools.sh

ci-tools: ## Install actionlint (Go module) for the workflow checks
	@tools/ci-tools.sh

airflow: ## Create .venv-airflow with the pinned Airflow 3 for the DAG tests
	@tools/airflow-env.sh

cluster-tools: ## Build the control-plane tier (Kubernetes, etcd, kwok, Argo CD) from Go modules; ~35 min once, cached
	@tools/cluster-tier-tools.sh >/dev/null

##@ Tests and checks
.PHONY: test-unit test-integration test-manifests test-dags test-ci test-cluster lint
test-unit: venv jars ## Unit tests only (no servers)
	@$(USE_CDS); $(VENV)/bin/pytest tests/unit $(PYTEST_ARGS)

test-integration: setup ## Integration tests on real MinIO, PostgreSQL and Spark
	@$(USE_CDS); $(VENV)/bin/pytest tests/integration $(PYTEST_ARGS)

test-manifests: venv manifest-tools ## Offline checks of every rendered manifest
	$(VENV)/bin/pytest tests/manifests $(PYTEST_ARGS)

test-dags: setup ## DAG import, structure and a real run against local MinIO and PostgreSQL
	@$(USE_CDS); $(VENV)/bin/pytest tests/dags $(PYTEST_ARGS)

test-cluster: venv manifest-tools airflow cluster-tools ## A real control plane + Argo CD's controller sync the stack from git
	$(VENV)/bin/pytest tests/cluster $(PYTEST_ARGS)

test-ci: venv ci-tools manifest-tools ## Workflows, Dockerfiles, image tags and the version lock
	$(VENV)/bin/pytest tests/ci $(PYTEST_ARGS)

lint: venv ## ruff and yamllint
	$(VENV)/bin/ruff check apps tests dags tools
	$(VENV)/bin/yamllint -s .

##@ Cluster (needs Docker, kind and kubectl)
.PHONY: up down creds status
up: ## Create the kind cluster, build and load the images, install Argo CD, hand everything else to it
	@bootstrap/up.sh

down: ## Delete the kind cluster
	@bootstrap/down.sh

creds: ## Print the generated credentials and UI addresses
	@bootstrap/creds.sh

status: ## Show each Argo CD Application's sync and health
	@bootstrap/status.sh

##@ Benchmark
SCALE ?= small
.PHONY: bench
bench: setup-run postgres ## Benchmark vs DuckDB and a naive rebuild (SCALE=small|full|tiny) -> bench/results.json
	$(PY) -m bench.run --scale $(SCALE)

##@ Images (need Docker)
.PHONY: images
images: ## Build all images with the overlays' tag; load them into the kind cluster if it runs
	@tools/build-images.sh

##@ Housekeeping
.PHONY: stop clean help
stop: ## Stop the local PostgreSQL/MinIO started by `make run`
	@$(PY) tools/servers.py postgres stop --dir $(LOCAL)/postgres || true
	@$(PY) tools/servers.py minio stop --dir $(LOCAL)/minio || true

clean: stop ## Remove the local lake, reports and local servers' data (keeps caches)
	rm -rf .lakehouse reports $(LOCAL)

help: ## Show this help
	@awk 'BEGIN {FS = ":.*##"} \
	  /^##@/ {printf "\n\033[1m%s\033[0m\n", substr($$0, 5); next} \
	  /^[a-zA-Z_-]+:.*##/ {printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)
