#!/usr/bin/env bash
# A private Postfix instance for the benchmark, on a loopback port, delivering every
# recipient of example.test to Maildir with the virtual(8) agent (Postfix's normal fsync
# behaviour: cleanup fsyncs the queue file before 250, virtual fsyncs each Maildir file).
# Nothing outside DIR is written; no system service is started or stopped.
#
#   postfix.sh start DIR PORT USER...   config + queue + Maildirs in DIR, smtpd on 127.0.0.1:PORT
#   postfix.sh stop DIR
set -euo pipefail

cmd=${1:?usage: postfix.sh start|stop DIR [PORT USER...]}
dir=$(realpath -m "${2:?DIR}")
etc=$dir/etc
mail_uid=$(id -u nobody)
mail_gid=$(id -g nobody)

case $cmd in
start)
    port=${3:?PORT}
    shift 3
    mkdir -p "$etc" "$dir/queue" "$dir/data" "$dir/vmail"
    chown postfix "$dir/data"
    chown "$mail_uid:$mail_gid" "$dir/vmail"
    : >"$etc/vmailbox"
    for u in "$@"; do
        printf '%s@example.test example.test/%s/\n' "$u" "$u" >>"$etc/vmailbox"
    done
    cat >"$etc/main.cf" <<CF
compatibility_level = 3.6
queue_directory = $dir/queue
data_directory = $dir/data
mail_owner = postfix
setgid_group = postdrop
myhostname = bench.localhost
mydomain = localhost
myorigin = localhost
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
virtual_mailbox_domains = example.test
virtual_mailbox_base = $dir/vmail
virtual_mailbox_maps = texthash:$etc/vmailbox
virtual_uid_maps = static:$mail_uid
virtual_gid_maps = static:$mail_gid
virtual_mailbox_limit = 0
message_size_limit = 60000000
alias_maps =
alias_database =
local_recipient_maps =
biff = no
append_dot_mydomain = no
smtpd_client_connection_count_limit = 0
smtpd_client_connection_rate_limit = 0
smtpd_client_message_rate_limit = 0
maillog_file = $dir/postfix.log
maillog_file_prefixes = $dir
import_environment = MAIL_CONFIG MAIL_DEBUG MAIL_LOGTAG TZ LANG=C
shlib_directory = /usr/lib/postfix
daemon_directory = /usr/lib/postfix/sbin
CF
    # The packaged master.cf, without chroot (the private queue has no chroot jail), with
    # smtpd on the benchmark port instead of port 25.
    awk -v port="$port" '
        /^smtp[ \t]+inet/ { print "127.0.0.1:" port " inet n - n - - smtpd"; next }
        /^[a-z]/ && NF >= 8 && $5 == "y" { $5 = "n" }
        { print }' /etc/postfix/master.cf >"$etc/master.cf"
    # postfix(1) reports errors on stderr only when it is a terminal, else to syslog; the
    # daemon must not keep the caller's pipes open. Errors land in DIR/start.log and postfix.log.
    if ! postfix -c "$etc" start </dev/null >"$dir/start.log" 2>&1; then
        cat "$dir/start.log" "$dir/postfix.log" >&2 2>/dev/null || true
        exit 1
    fi
    ;;
stop)
    if [ -f "$etc/main.cf" ]; then
        postfix -c "$etc" stop </dev/null >/dev/null 2>&1 || true
    fi
    ;;
*)
    echo "usage: postfix.sh start|stop DIR [PORT USER...]" >&2
    exit 2
    ;;
esac
