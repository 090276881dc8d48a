#!/bin/bash
# Runs once, when the MySQL container initialises its data folder: the project's accounts,
# the same as the native runtime's (services/stack/mysql_accounts.py, SECURITY.md), except
# that clients reach the container from the Docker network, so the host part is '%'.
#   - MYSQL_ADMIN_USER: ALL on MYSQL_DATABASE and its scratch databases `<db>_<suffix>`,
#     nothing global (no FILE, no CREATE USER), no GRANT OPTION;
#   - MYSQL_USER: SELECT on MYSQL_DATABASE; `<MYSQL_USER>_scratch`: SELECT on the scratch ones.
# root keeps the random password the image generated and exists at localhost only
# (MYSQL_ROOT_HOST), i.e. only `docker exec` into the container reaches it.
set -euo pipefail
# In a database-level GRANT `_` is a wildcard: escaped, the grant names exactly that database.
db="${MYSQL_DATABASE//_/\\_}"
mysql --protocol=socket -uroot -p"${MYSQL_ROOT_PASSWORD}" <<SQL
CREATE USER IF NOT EXISTS '${PIPELINE_ADMIN_USER}'@'%' IDENTIFIED BY '${PIPELINE_ADMIN_PASSWORD}';
GRANT ALL PRIVILEGES ON \`${db}\`.* TO '${PIPELINE_ADMIN_USER}'@'%';
GRANT ALL PRIVILEGES ON \`${db}\\_%\`.* TO '${PIPELINE_ADMIN_USER}'@'%';
CREATE USER IF NOT EXISTS '${PIPELINE_READER_USER}'@'%' IDENTIFIED BY '${PIPELINE_READER_PASSWORD}';
GRANT SELECT ON \`${db}\`.* TO '${PIPELINE_READER_USER}'@'%';
CREATE USER IF NOT EXISTS '${PIPELINE_READER_USER}_scratch'@'%' IDENTIFIED BY '${PIPELINE_READER_PASSWORD}';
GRANT SELECT ON \`${db}\\_%\`.* TO '${PIPELINE_READER_USER}_scratch'@'%';
SQL
