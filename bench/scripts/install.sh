#!/usr/bin/env bash
# Installs the benchmark peers from Debian without starting any system service:
# dovecot-imapd + dovecot-pop3d (IMAP/POP3 peer), postfix (SMTP peer, smtp-sink, smtp-source),
# postgresql (`bench nodes`: the store shared by several mailstack nodes).
# A temporary /usr/sbin/policy-rc.d (exit 101) stops the packages' postinst scripts from
# starting daemons; the postfix debconf answer is "No configuration" (no main.cf, no port 25).
# Idempotent: does nothing when every tool is already present.
set -euo pipefail

need=()
command -v doveadm >/dev/null 2>&1 || need+=(dovecot-core)
[ -x /usr/lib/dovecot/imap ] || need+=(dovecot-imapd)
[ -x /usr/lib/dovecot/pop3 ] || need+=(dovecot-pop3d)
if ! command -v smtp-source >/dev/null 2>&1 || [ ! -x /usr/lib/postfix/sbin/master ]; then
    need+=(postfix)
fi
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
if [ ${#need[@]} -eq 0 ]; then
    echo "bench: peers already installed"
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "bench: installing ${need[*]} needs root (apt-get)" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
echo "postfix postfix/mailname string localhost" | debconf-set-selections

policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    created_policy=1
fi
cleanup() { if [ "$created_policy" = 1 ]; then rm -f "$policy"; fi; }
trap cleanup EXIT

apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
# Belt and braces: nothing the packages might have started keeps running (no systemd here
# normally; on a machine with systemd, stop and leave the units as they were configured).
for svc in postfix dovecot; do
    if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$svc" 2>/dev/null; then
        systemctl stop "$svc" || true
    fi
done
echo "bench: installed ${need[*]}"
