#!/bin/sh
# Installs Debian's Roundcube (with its managesieve plugin and php-net-sieve) and the PHP it needs
# for tests/tests/roundcube.rs, without any web
# server (the test runs `php -S` itself) and without a database set up by dbconfig-common (the
# test uses its own SQLite file). Idempotent and non-interactive; run as root.
set -eu
export DEBIAN_FRONTEND=noninteractive

if command -v php >/dev/null 2>&1 && [ -f /usr/share/roundcube/index.php ] \
    && [ -d /usr/share/roundcube/plugins/password ]; then
    echo "roundcube: already installed"
    exit 0
fi

# No package may start a service while we install (php-fpm, apache2 ...).
policy=/usr/sbin/policy-rc.d
added_policy=0
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy"
    chmod 755 "$policy"
    added_policy=1
fi
cleanup() {
    if [ "$added_policy" = 1 ]; then rm -f "$policy"; fi
}
trap cleanup EXIT

# dbconfig-common must not create a database; the test writes its own config.
echo 'roundcube-core roundcube/dbconfig-install boolean false' | debconf-set-selections
echo 'roundcube-core roundcube/reconfigure-webserver multiselect' | debconf-set-selections
echo 'roundcube-core roundcube/restart-webserver boolean false' | debconf-set-selections

# A fresh machine may have no package lists yet.
if ! apt-cache show roundcube-core >/dev/null 2>&1; then
    apt-get update
fi

# PHP first, with the CGI SAPI: it satisfies the `php` dependency, so apt does not pull
# libapache2-mod-php (and apache2-bin) in for roundcube-core.
apt-get install -y --no-install-recommends \
    php-cli php-cgi php-intl php-mbstring php-xml php-sqlite3 php-curl
apt-get install -y --no-install-recommends \
    roundcube-core roundcube-sqlite3 roundcube-plugins
