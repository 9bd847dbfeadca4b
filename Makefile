# mailstack — see README.md. Every target works from a clean clone.
CARGO   ?= cargo
CONFIG  ?= config/mailstack.toml
NEXTEST := $(shell command -v cargo-nextest 2>/dev/null)
TARGET_DIR ?= $(or $(CARGO_TARGET_DIR),target)

.PHONY: all build build-debug run test test-rust pytest clients stress-smoke lint certs fmt clean-data bench soak stress fuzz audit
.PHONY: deps deps-build deps-lint
# What `make deps` installed is found without a new shell: Rust from rustup, and Node.js 20
# for the browser test where the system's is older (Debian 12 has 18).
export PATH := $(CURDIR)/tests/browser/.node/bin:$(HOME)/.cargo/bin:$(PATH)

all: build

## What `make run` and `make test` need on Debian 12, installed when missing (scripts/deps.sh:
## idempotent; apt-get as root, otherwise it names what is missing). `make test` runs it;
## `make lint` runs deps-lint (Rust with rustfmt, clippy and cargo-deny).
deps:
	@bash scripts/deps.sh test
deps-build:
	@bash scripts/deps.sh build
deps-lint:
	@bash scripts/deps.sh lint

build: deps-build
	$(CARGO) build --release -p mailstack

## Start every listener of the development config (demo accounts alice/bob, generated certs).
run: build
	./target/release/mailstack --config $(CONFIG) serve

build-debug: deps-build
	$(CARGO) build -p mailstack

## playwright-core for the dashboard's browser test, exactly as package-lock.json pins it.
tests/browser/node_modules: tests/browser/package-lock.json
	npm ci --prefix tests/browser --no-audit --no-fund

## Everything CI runs: the real-client matrix, a short stress run (stress-smoke), then unit,
## protocol and end-to-end tests.
test: deps build-debug
	@status=0; \
	$(MAKE) --no-print-directory clients || status=1; \
	$(MAKE) --no-print-directory stress-smoke || status=1; \
	$(MAKE) --no-print-directory pytest || status=1; \
	$(MAKE) --no-print-directory test-rust || status=1; \
	exit $$status

## Protocol test binaries that run a second time on the PostgreSQL backend (in-process stacks;
## the sled-specific storage-failure test and the slow third-party clients are left out).
PG_SUITES := (package(imapd) & !binary(storage_failure) & !binary(mbsync) & !binary(clients)) \
	| binary(maildrop) | binary(protocol) | binary(delivery) | binary(sieve_delivery) | binary(managesieve)

test-rust: build-debug tests/browser/node_modules
ifdef NEXTEST
	$(CARGO) nextest run --workspace --no-fail-fast
	MAILSTACK_BIN=$(abspath $(TARGET_DIR))/debug/mailstack $(CARGO) test --doc -p mailstack-test
	@echo "== the protocol suites again on the PostgreSQL backend (MAILSTACK_TEST_STORE=postgres)"
	MAILSTACK_TEST_STORE=postgres $(CARGO) nextest run --no-fail-fast -p imapd -p pop3d -p submission -p e2e \
		-E '$(PG_SUITES)'
else
	$(CARGO) test --workspace --no-fail-fast
endif

## The pytest suite (tests/python: a test server started by a fixture, smtplib/imaplib/poplib,
## injected faults), pytest from PyPI in a virtualenv under tests/python/.venv.
tests/python/.venv/bin/pytest: tests/python/requirements.txt
	python3 -m venv tests/python/.venv
	tests/python/.venv/bin/pip install --quiet -r tests/python/requirements.txt
	touch $@

pytest: build-debug tests/python/.venv/bin/pytest
	MAILSTACK_BIN=$(TARGET_DIR)/debug/mailstack tests/python/.venv/bin/pytest -q tests/python

## Every third-party client (curl, imaplib/poplib/smtplib, swaks, msmtp, mutt, mbsync,
## offlineimap, fetchmail, getmail6, mailutils) against a fresh server: a pass/fail table.
clients: build-debug
	python3 tests/clients/matrix.py --bin target/debug/mailstack

## A short run of the model-checking stress client (`bench stress`) against the debug build:
## 6 IMAP sessions, one POP3 session and deliveries on one mailbox for 10 s, checkpoints
## every 3 s; fails on any error (the checks are listed in bench/results/stress.md).
stress-smoke: build-debug
	$(CARGO) build -p bench
	$(TARGET_DIR)/debug/bench stress --target mailstack --mailstack $(TARGET_DIR)/debug/mailstack \
		--sessions 6 --seconds 10 --checkpoint 3 --pop3 1 --smtp-rate 2

lint: deps-lint
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	@$(MAKE) --no-print-directory audit

fmt:
	$(CARGO) fmt --all

## Generate the development CA + server certificate into certs/ (done on first `make run` too).
certs: build
	./target/release/mailstack --config $(CONFIG) certs

## Remove the development store (all accounts and mail of `make run`).
clean-data:
	rm -rf data

## Fuzz every parser and session (fuzz/, cargo-fuzz on nightly) for FUZZ_SECONDS each, then
## replay the corpora and the crash regressions on stable. Not part of `make test`.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := pop3_command pop3_session smtp_command smtp_session imap_command imap_session sasl mime sieve_parse
fuzz:
	@command -v cargo-fuzz >/dev/null || { echo "fuzz: needs cargo-fuzz (cargo install cargo-fuzz --locked) and a nightly toolchain"; exit 1; }
	@for t in $(FUZZ_TARGETS); do \
		echo "== fuzz $$t ($(FUZZ_SECONDS) s)"; \
		$(CARGO) +nightly fuzz run --fuzz-dir fuzz $$t -- -max_total_time=$(FUZZ_SECONDS) \
			-max_len=8192 -rss_limit_mb=2048 -timeout=20 -print_final_stats=1 || exit 1; \
	done
	$(CARGO) test --manifest-path fuzz/Cargo.toml

## Dependency policy (deny.toml): licenses, banned and duplicate crates, sources, and the
## RustSec advisories when the advisory database can be fetched.
audit:
	@command -v cargo-deny >/dev/null || { echo "audit: needs cargo-deny (cargo install cargo-deny --locked)"; exit 1; }
	$(CARGO) deny check bans licenses sources
	@if $(CARGO) deny fetch >/dev/null 2>&1 || ls $$HOME/.cargo/advisory-dbs/*/crates >/dev/null 2>&1; then \
		$(CARGO) deny --offline check advisories; \
	else \
		echo "audit: RustSec advisory database unreachable; advisories not checked"; \
	fi

## Benchmarks side by side with Dovecot and Postfix (installs them from Debian, no service
## started; ~15 min, then the stress client side by side for 2 × STRESS_SECONDS): results in
## bench/results/latest.md.
bench:
	STRESS_SESSIONS=$(STRESS_SESSIONS) STRESS_SECONDS=$(STRESS_SECONDS) \
		STRESS_CHECKPOINT=$(STRESS_CHECKPOINT) bash bench/scripts/run.sh

## Load soak: SOAK_SESSIONS concurrent mixed SMTP/IMAP/POP3 sessions (TLS and plain) for
## SOAK_SECONDS against a release server; fails on any protocol error or growing RSS.
## Results in bench/results/soak.md. Not part of `make test`.
SOAK_SESSIONS ?= 200
SOAK_SECONDS  ?= 600
soak:
	SOAK_SESSIONS=$(SOAK_SESSIONS) SOAK_SECONDS=$(SOAK_SECONDS) bash bench/scripts/soak.sh

## Model-checking stress client side by side: STRESS_SESSIONS IMAP sessions (plus one POP3
## session and deliveries) on one mailbox for STRESS_SECONDS against mailstack, then the same
## against Dovecot, checkpoints every STRESS_CHECKPOINT s; fails on any error. Results in
## bench/results/stress.md and the stress row of bench/results/latest.md. Not part of `make test`
## (its short version `stress-smoke` is).
STRESS_SESSIONS   ?= 50
STRESS_SECONDS    ?= 600
STRESS_CHECKPOINT ?= 5
stress:
	STRESS_SESSIONS=$(STRESS_SESSIONS) STRESS_SECONDS=$(STRESS_SECONDS) \
		STRESS_CHECKPOINT=$(STRESS_CHECKPOINT) bash bench/scripts/stress.sh
