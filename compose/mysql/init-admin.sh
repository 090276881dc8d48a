#!/bin/bash
# Runs once, when the MySQL container initialises its data folder: the admin account that
# `make seed` uses (it creates the emulator's read-only account, so it needs GRANT OPTION).
set -euo pipefail
mysql -uroot -p"${MYSQL_ROOT_PASSWORD}" <<SQL
CREATE USER IF NOT EXISTS '${MYSQL_ADMIN_USER}'@'%' IDENTIFIED BY '${MYSQL_ADMIN_PASSWORD}';
GRANT ALL PRIVILEGES ON *.* TO '${MYSQL_ADMIN_USER}'@'%' WITH GRANT OPTION;
SQL
