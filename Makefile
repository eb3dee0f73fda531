# The commands people and CI use. `make demo` runs the main job, `make test` runs all tests;
# each installs what it needs.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
CARGO ?= cargo
CLUSTER_DIR ?= $(CURDIR)/.cluster

.PHONY: help build test unit-test lint fmt manifests check-manifests check-purity up down demo bench toolchain

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

toolchain: ## Check that cargo is installed (rustup's default toolchain)
	@command -v $(CARGO) >/dev/null || { echo "cargo not found: install Rust with rustup (https://rustup.rs)"; exit 1; }

build: toolchain ## Build every crate and binary
	$(CARGO) build --workspace --all-targets --locked

test: toolchain check-manifests check-purity unit-test ## Run all tests (unit, conformance, manifests)

unit-test:
	$(CARGO) test --workspace --locked

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

up: ## Start the local control plane (not yet available)
	@echo "make up: not yet available (the local control plane is issue 3)"; exit 2

down: ## Stop the local control plane (not yet available)
	@echo "make down: not yet available (the local control plane is issue 3)"; exit 2

demo: ## Play the seed walkthrough end to end (not yet available)
	@echo "make demo: not yet available (needs the control plane, webhook, controller and plugin)"; exit 2

bench: ## Run the benchmarks (not yet available)
	@echo "make bench: not yet available (no benchmarks exist yet)"; exit 2
