# The commands people and CI use. `make demo` runs the main job, `make test` runs all tests;
# each first checks the prerequisites (tests/local/prereqs.sh), then builds what it needs.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
CARGO ?= cargo
CLUSTER_DIR ?= $(CURDIR)/.cluster

.PHONY: help prereqs build test unit-test e2e chaos newcomer lint fmt manifests check-manifests check-purity up down demo bench

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

prereqs: ## Check for cargo, a C linker, Go >= 1.26, make, curl and git; names what is missing and how to install it
	@CARGO=$(CARGO) tests/local/prereqs.sh

build: prereqs ## Build every crate and binary
	$(CARGO) build --workspace --all-targets --locked

test: prereqs check-manifests check-purity unit-test e2e newcomer ## Run all tests: unit, conformance, e2e on the local control plane, then the newcomer check

# The conformance tests also run over the team's conformance data when ROLLOUTS_CONFORMANCE_DIR
# names it (a missing folder is an error). The last line says which.
unit-test: ## Unit, conformance and manifest tests (no cluster); the last line says whether conformance data was found
	@if [ -n "$${ROLLOUTS_CONFORMANCE_DIR:-}" ]; then \
	  dir="$$(cd "$$ROLLOUTS_CONFORMANCE_DIR" 2>/dev/null && pwd)" \
	    || { echo "unit-test: ROLLOUTS_CONFORMANCE_DIR=$$ROLLOUTS_CONFORMANCE_DIR is not a folder"; exit 1; }; \
	  export ROLLOUTS_CONFORMANCE_DIR="$$dir"; \
	  summary="conformance data: found at $$dir (ROLLOUTS_CONFORMANCE_DIR); the conformance tests ran over it"; \
	else \
	  summary="conformance data: not found (ROLLOUTS_CONFORMANCE_DIR is not set); the conformance tests skipped their upstream part"; \
	fi; \
	rc=0; $(CARGO) test --workspace --locked --exclude rollouts-e2e || rc=$$?; \
	echo "$$summary"; exit $$rc

# Starts the local control plane unless one already runs for $(CLUSTER_DIR) (then it is reused
# and left running); a cluster started here is stopped afterwards, pass or fail.
e2e: prereqs ## End-to-end tests against the local control plane (builds it when needed)
	@$(CARGO) build --locked -p rollouts-e2e --tests
	@tests/local/with-cluster.sh $(CLUSTER_DIR) $(CARGO) test --locked -p rollouts-e2e

# Not part of `make test`: a soak of CHAOS_DURATION (e.g. 90s, 10m) whose random choices follow
# CHAOS_SEED; the report goes to stdout and to CHAOS_REPORT. See docs/reliability.md.
CHAOS_DURATION ?= 3m
CHAOS_SEED ?= 1
CHAOS_REPORT ?= target/chaos-report.md
# First the admission and conversion property tests with CHAOS_FUZZ_CASES cases each (256 in
# `make test`): every workload kind, Rollout validation, ConversionReviews.
CHAOS_FUZZ_CASES ?= 20000
chaos: prereqs ## Reliability soak: admission fuzzing, then releases of every kind while components are killed; fails on a broken invariant
	PROPTEST_CASES=$(CHAOS_FUZZ_CASES) $(CARGO) test --locked -p rollouts-webhook --test decoder_props --test governed_props
	@$(CARGO) build --locked -p rollouts-e2e --bin chaos -p rollouts-controller -p rollouts-webhook
	@tests/local/with-cluster.sh $(CLUSTER_DIR) target/debug/chaos --duration $(CHAOS_DURATION) --seed $(CHAOS_SEED) --report $(CHAOS_REPORT)

newcomer: prereqs ## Clone the committed HEAD where nothing sits beside it: prereqs, make -n demo/test, unit tests (NEWCOMER_DEMO=1: also make demo)
	@tests/local/newcomer.sh

lint: prereqs ## fmt check and clippy with warnings as errors
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

fmt: ## Format the code
	$(CARGO) fmt --all

manifests: prereqs ## Regenerate manifests/crds and charts/rollouts-rs/crds from the API types
	$(CARGO) run --locked -q -p rollouts-api --bin crdgen

check-manifests: prereqs ## Fail if manifests/crds or charts/rollouts-rs/crds differ from the API types
	$(CARGO) run --locked -q -p rollouts-api --bin crdgen -- --check

check-purity: prereqs ## Fail if any crate under crates/ depends on a Kubernetes client, an async runtime or HTTP
	@for manifest in crates/*/Cargo.toml; do \
	  crate=$$(sed -n 's/^name = "\(.*\)"/\1/p' $$manifest | head -1); \
	  deps=$$($(CARGO) tree -p $$crate -e normal --prefix none --format '{p}') \
	    || { echo "check-purity: cargo tree failed for $$crate"; exit 1; }; \
	  bad=$$(echo "$$deps" | awk '{print $$1}' | grep -E '^(kube-client|kube-runtime|tokio|hyper|reqwest)$$' | sort -u || true); \
	  if [ -n "$$bad" ]; then echo "check-purity: $$crate depends on:" $$bad; exit 1; fi; \
	  echo "check-purity: $$crate depends on none of kube-client, kube-runtime, tokio, hyper, reqwest"; \
	done

up: prereqs ## Build (when needed) and start the local control plane, the webhook and the controller; prints the lines to paste
	@tests/cluster/up.sh $(CLUSTER_DIR) > $(CLUSTER_DIR).exports
	@tests/local/services.sh up $(CLUSTER_DIR)
	@cat $(CLUSTER_DIR).exports && rm -f $(CLUSTER_DIR).exports

down: ## Stop the controller, the webhook and the local control plane
	@if [ -d $(CLUSTER_DIR) ]; then tests/local/services.sh down $(CLUSTER_DIR); fi
	@tests/cluster/down.sh $(CLUSTER_DIR)

demo: prereqs ## Play the walkthrough with examples/ end to end on the local control plane (builds what it needs)
	@tests/local/demo.sh

bench: prereqs ## Admission benchmark (p50/p99, throughput and memory at 1, 16 and 64 connections) and the decide benchmark (decisions per second)
	$(CARGO) build --release --locked -p rollouts-bench
	target/release/admission-load --connections 1,16,64 --seconds 5
	$(CARGO) bench --locked -p rollouts-plan --bench decide

# Controller at scale (tests/bench, controller-load, docs/benchmarks.md): a local control plane of
# its own in BENCH_CLUSTER_DIR (fresh per N; stopped at the end unless it was already running),
# the webhook and the controller on 127.0.0.1 ports 24876/24081/24082 (below the ephemeral
# range). More flags in BENCH_ARGS, e.g. BENCH_ARGS="--idle-seconds 60 --label after".
# JSON lines are appended to target/bench/controller-load.jsonl.
BENCH_ROLLOUTS ?= 500,2000,10000
BENCH_REPLICAS ?= 1
BENCH_CLUSTER_DIR ?= $(CURDIR)/.cluster-bench
BENCH_ARGS ?=
.PHONY: bench-controller
bench-controller: prereqs ## Controller at scale: cold start over 500/2000/10000 Rollouts, writes, conflicts, RSS, idle CPU, restart
	$(CARGO) build --release --locked -p rollouts-controller -p rollouts-webhook -p rollouts-bench
	target/release/controller-load --rollouts $(BENCH_ROLLOUTS) --replicas $(BENCH_REPLICAS) --cluster-dir $(BENCH_CLUSTER_DIR) $(BENCH_ARGS)
