#!/bin/sh
# Starts a private Dovecot IMAP server for the differential test.
#   start.sh DIR PORT USER PASSWORD
# DIR is an empty temporary folder (config, sockets, state, logs and maildirs go there);
# PORT a free loopback port. Dovecot daemonizes; stop it with `dovecot -c DIR/dovecot.conf stop`.
# As root the mail processes run as nobody and the login processes as dovenull (Debian's
# package creates it); as any other user everything runs as that user, without chroot.
set -eu
dir=$1 port=$2 user=$3 password=$4
here=$(dirname "$0")
if [ "$(id -u)" = 0 ]; then
    uid=65534 gid=65534 internal=dovecot login=dovenull chroot=login
    getent passwd dovenull >/dev/null || login=nobody
    getent passwd dovecot >/dev/null || internal=nobody
else
    uid=$(id -u) gid=$(id -g) internal=$(id -un) login=$(id -un) chroot=
fi
mkdir -p "$dir/run" "$dir/state" "$dir/mail"
chmod 0755 "$dir" "$dir/mail"
[ "$(id -u)" = 0 ] && chown "$uid:$gid" "$dir/mail"
sed -e "s|@DIR@|$dir|g" -e "s|@PORT@|$port|g" -e "s|@UID@|$uid|g" -e "s|@GID@|$gid|g" \
    -e "s|@INTERNAL@|$internal|g" -e "s|@LOGIN@|$login|g" -e "s|@CHROOT@|$chroot|g" \
    "$here/dovecot.conf.in" >"$dir/dovecot.conf"
printf '%s:{PLAIN}%s\n' "$user" "$password" >"$dir/passwd"
chmod 0644 "$dir/passwd"
exec dovecot -c "$dir/dovecot.conf"
