# mailstack — see README.md. Every target works from a clean clone.
CARGO   ?= cargo
CONFIG  ?= config/mailstack.toml
NEXTEST := $(shell command -v cargo-nextest 2>/dev/null)

.PHONY: all build build-debug run test test-rust clients lint certs fmt clean-data

all: build

build:
	$(CARGO) build --release -p mailstack

## Start every listener of the development config (demo accounts alice/bob, generated certs).
run: build
	./target/release/mailstack --config $(CONFIG) serve

build-debug:
	$(CARGO) build -p mailstack

## Everything CI runs: the real-client matrix, then unit, protocol and end-to-end tests.
test: build-debug
	@status=0; \
	$(MAKE) --no-print-directory clients || status=1; \
	$(MAKE) --no-print-directory test-rust || status=1; \
	exit $$status

test-rust: build-debug
ifdef NEXTEST
	$(CARGO) nextest run --workspace --no-fail-fast
else
	$(CARGO) test --workspace --no-fail-fast
endif

## Every third-party client (curl, imaplib/poplib/smtplib, swaks, msmtp, mutt, mbsync,
## offlineimap, fetchmail, getmail6, mailutils) against a fresh server: a pass/fail table.
clients: build-debug
	python3 tests/clients/matrix.py --bin target/debug/mailstack

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

## Generate the development CA + server certificate into certs/ (done on first `make run` too).
certs: build
	./target/release/mailstack --config $(CONFIG) certs

## Remove the development store (all accounts and mail of `make run`).
clean-data:
	rm -rf data
