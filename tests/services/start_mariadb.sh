#!/usr/bin/env bash
# The MariaDB server the tests run ML Metadata and MLflow against (Kubeflow keeps ML Metadata in
# MySQL; MariaDB is Debian's MySQL). Installs Debian's packages when missing, starts the server
# without systemd on 127.0.0.1, and creates the test user with a random password, which it prints as
# the last line for the caller to export. The password lives only in a root-only file under
# /run (gone at reboot), so concurrent test sessions share it. Idempotent; leaves the server running:
#   start-stop-daemon --stop --pidfile /run/mariadbd-cyclecast.pid --retry 30
#
# The user 'cyclecast' may create and use any database named cyclecast_*, so each test makes its
# own. It authenticates with mysql_native_password, the plugin ML Metadata 1.16's client speaks.
set -euo pipefail
PORT="${CYCLECAST_TEST_MYSQL_PORT:-3306}"
PIDFILE=/run/mariadbd-cyclecast.pid
DB_USER=cyclecast

[[ "$(id -u)" == 0 ]] || { echo "start_mariadb: needs root (apt-get, /run/mysqld)" >&2; exit 2; }

if [[ ! -x /usr/sbin/mariadbd ]] || ! command -v mariadb-admin >/dev/null; then
  echo "start_mariadb: installing mariadb-server and mariadb-client (Debian packages)..." >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends mariadb-server mariadb-client >/dev/null
fi

install -d -o mysql -g root -m 755 /run/mysqld
alive() { mariadb-admin --protocol=socket ping --silent >/dev/null 2>&1; }
if ! alive; then
  echo "start_mariadb: starting mariadbd on 127.0.0.1:$PORT..." >&2
  start-stop-daemon --start --oknodo --background --make-pidfile --pidfile "$PIDFILE" \
    --exec /usr/sbin/mariadbd -- --user=mysql --bind-address=127.0.0.1 --port="$PORT"
  for _ in $(seq 1 120); do alive && break; sleep 0.5; done
  alive || { echo "start_mariadb: mariadbd did not answer within 60 s" >&2; exit 1; }
fi

PASSWORD_FILE=/run/mysqld/cyclecast-test-password
if [[ ! -s "$PASSWORD_FILE" ]]; then
  (umask 077; od -An -N16 -tx1 /dev/urandom | tr -d ' \n' > "$PASSWORD_FILE")
fi
PASSWORD="$(cat "$PASSWORD_FILE")"
# Debian's root logs in through the unix socket as OS root.
mariadb --protocol=socket -uroot <<SQL
CREATE USER IF NOT EXISTS '$DB_USER'@'localhost' IDENTIFIED WITH mysql_native_password USING PASSWORD('$PASSWORD');
CREATE USER IF NOT EXISTS '$DB_USER'@'127.0.0.1' IDENTIFIED WITH mysql_native_password USING PASSWORD('$PASSWORD');
ALTER USER '$DB_USER'@'localhost' IDENTIFIED WITH mysql_native_password USING PASSWORD('$PASSWORD');
ALTER USER '$DB_USER'@'127.0.0.1' IDENTIFIED WITH mysql_native_password USING PASSWORD('$PASSWORD');
GRANT ALL PRIVILEGES ON \`cyclecast\\_%\`.* TO '$DB_USER'@'localhost';
GRANT ALL PRIVILEGES ON \`cyclecast\\_%\`.* TO '$DB_USER'@'127.0.0.1';
FLUSH PRIVILEGES;
SQL
echo "$PASSWORD"
