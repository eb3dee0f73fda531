# The commands people and CI use. `make demo` runs the main job, `make test` runs all tests;
# each installs what it needs.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
CARGO ?= cargo
CLUSTER_DIR ?= $(CURDIR)/.cluster

.PHONY: help build test unit-test e2e lint fmt manifests check-manifests check-purity up down demo bench toolchain

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

toolchain: ## Check that cargo is installed (rustup's default toolchain)
	@command -v $(CARGO) >/dev/null || { echo "cargo not found: install Rust with rustup (https://rustup.rs)"; exit 1; }

build: toolchain ## Build every crate and binary
	$(CARGO) build --workspace --all-targets --locked

test: toolchain check-manifests check-purity unit-test e2e ## Run all tests: unit, conformance, then e2e on the local control plane

unit-test: ## Unit, conformance and manifest tests (no cluster)
	$(CARGO) test --workspace --locked --exclude rollouts-e2e

# Starts the local control plane unless one already runs for $(CLUSTER_DIR) (then it is reused
# and left running); a cluster started here is stopped afterwards, pass or fail.
e2e: toolchain ## End-to-end tests against the local control plane (builds it when needed)
	@$(CARGO) build --locked -p rollouts-e2e --tests
	@started=0; \
	if ! tests/cluster/bin/k8scluster status --dir $(CLUSTER_DIR) >/dev/null 2>&1; then started=1; fi; \
	tests/cluster/up.sh $(CLUSTER_DIR) >/dev/null; \
	tests/local/services.sh down $(CLUSTER_DIR); \
	trap 'if [ $$started = 1 ]; then tests/cluster/down.sh $(CLUSTER_DIR) >/dev/null 2>&1; fi' EXIT; \
	KUBECONFIG=$(CLUSTER_DIR)/kubeconfig $(CARGO) test --locked -p rollouts-e2e

lint: toolchain ## fmt check and clippy with warnings as errors
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

fmt: ## Format the code
	$(CARGO) fmt --all

manifests: toolchain ## Regenerate manifests/crds from the API types
	$(CARGO) run --locked -q -p rollouts-api --bin crdgen

check-manifests: toolchain ## Fail if manifests/crds differ from the API types
	$(CARGO) run --locked -q -p rollouts-api --bin crdgen -- --check

check-purity: toolchain ## Fail if the pure crates depend on a client, a runtime or HTTP
	@for crate in rollouts-plan rollouts-workload; do \
	  deps=$$($(CARGO) tree -p $$crate -e normal --prefix none --format '{p}') \
	    || { echo "check-purity: cargo tree failed for $$crate"; exit 1; }; \
	  bad=$$(echo "$$deps" | awk '{print $$1}' | grep -E '^(kube-client|kube-runtime|tokio|hyper|reqwest)$$' | sort -u || true); \
	  if [ -n "$$bad" ]; then echo "check-purity: $$crate depends on:" $$bad; exit 1; fi; \
	  echo "check-purity: $$crate depends on none of kube-client, kube-runtime, tokio, hyper, reqwest"; \
	done

up: ## Build (when needed) and start the local control plane, the webhook and the controller; prints the lines to paste
	@tests/cluster/up.sh $(CLUSTER_DIR) > $(CLUSTER_DIR).exports
	@tests/local/services.sh up $(CLUSTER_DIR)
	@cat $(CLUSTER_DIR).exports && rm -f $(CLUSTER_DIR).exports

down: ## Stop the controller, the webhook and the local control plane
	@if [ -d $(CLUSTER_DIR) ]; then tests/local/services.sh down $(CLUSTER_DIR); fi
	@tests/cluster/down.sh $(CLUSTER_DIR)

demo: ## Play the seed's walkthrough end to end on the local control plane (builds what it needs)
	@tests/local/demo.sh

bench: toolchain ## Admission benchmark: p50/p99, throughput and memory at 1, 16 and 64 connections
	$(CARGO) build --release --locked -p rollouts-bench
	target/release/admission-load --connections 1,16,64 --seconds 5
