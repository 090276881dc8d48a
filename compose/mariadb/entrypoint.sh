#!/bin/bash
# The docker runtime's MariaDB: the same server flags and accounts as the native runtime
# (services/stack/definitions.py, mysql_accounts.py, SECURITY.md), except that clients reach
# it through the container's published port, so an account's host part is '%'.
#   - MYSQL_ADMIN_USER: ALL on MYSQL_DATABASE and its scratch databases `<db>_<suffix>`;
#   - MYSQL_USER: SELECT on MYSQL_DATABASE; `<MYSQL_USER>_scratch`: SELECT on the scratch ones.
# The superuser is root@localhost over the unix socket only, for OS user root, which the
# container never runs as: nothing on the network reaches it.
set -euo pipefail
: "${MYSQL_PORT:?}" "${MYSQL_DATABASE:?}" "${MYSQL_ADMIN_USER:?}" "${MYSQL_ADMIN_PASSWORD:?}"
: "${MYSQL_USER:?}" "${MYSQL_PASSWORD:?}"
if [ ! -d /var/lib/mysql/mysql ]; then
  mariadb-install-db --no-defaults --user=mysql --datadir=/var/lib/mysql --auth-root-authentication-method=socket \
    --skip-test-db >/dev/null
fi
sql() { printf '%s' "$1" | sed "s/'/''/g"; }
# In a database-level GRANT `_` is a wildcard: escaped, the grant names exactly that database.
db="${MYSQL_DATABASE//_/\\_}"
# Every start, through --init-file (run by the server itself before it takes connections, so
# no superuser account is needed and no client meets a half-made account): the accounts
# follow the configuration, passwords included, as the native runtime's do.
umask 077
cat >/run/mysqld/accounts.sql <<SQL
CREATE DATABASE IF NOT EXISTS \`${MYSQL_DATABASE}\`;
CREATE USER IF NOT EXISTS '$(sql "$MYSQL_ADMIN_USER")'@'%';
ALTER USER '$(sql "$MYSQL_ADMIN_USER")'@'%' IDENTIFIED BY '$(sql "$MYSQL_ADMIN_PASSWORD")';
GRANT ALL PRIVILEGES ON \`${db}\`.* TO '$(sql "$MYSQL_ADMIN_USER")'@'%';
GRANT ALL PRIVILEGES ON \`${db}\\_%\`.* TO '$(sql "$MYSQL_ADMIN_USER")'@'%';
CREATE USER IF NOT EXISTS '$(sql "$MYSQL_USER")'@'%';
ALTER USER '$(sql "$MYSQL_USER")'@'%' IDENTIFIED BY '$(sql "$MYSQL_PASSWORD")';
GRANT SELECT ON \`${db}\`.* TO '$(sql "$MYSQL_USER")'@'%';
CREATE USER IF NOT EXISTS '$(sql "$MYSQL_USER")_scratch'@'%';
ALTER USER '$(sql "$MYSQL_USER")_scratch'@'%' IDENTIFIED BY '$(sql "$MYSQL_PASSWORD")';
GRANT SELECT ON \`${db}\\_%\`.* TO '$(sql "$MYSQL_USER")_scratch'@'%';
SQL
exec mariadbd --no-defaults --datadir=/var/lib/mysql --socket=/run/mysqld/mysqld.sock \
  --init-file=/run/mysqld/accounts.sql \
  --port="${MYSQL_PORT}" --bind-address=0.0.0.0 --skip-name-resolve \
  --secure-file-priv=/var/lib/mysql-files --local-infile=1 --max-allowed-packet=256M \
  --character-set-server=utf8mb4 --collation-server=utf8mb4_general_ci \
  --innodb-buffer-pool-size=512M --innodb-log-file-size=256M \
  --innodb-flush-log-at-trx-commit=2 --performance-schema=OFF --skip-log-bin
