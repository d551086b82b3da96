#!/usr/bin/env bash
# compose.yaml: the postgres image runs this once, on an empty data directory. It applies the same
# role and grant scripts as a VPS (01-roles.sql, 02-grants.sql) and sets the roles' passwords from
# the Compose secrets, so that no password is written into a file of this repository.
set -euo pipefail

sql_dir=${SHIPYARD_SQL_DIR:-/shipyard-sql}
secrets_dir=${SHIPYARD_SECRETS_DIR:-/run/secrets}
psql=(psql -X -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --no-password)
"${psql[@]}" --dbname postgres -f "$sql_dir/01-roles.sql"
"${psql[@]}" --dbname shipyard -f "$sql_dir/02-grants.sql"
# psql's :'var' quoting keeps a password with quotes in it from breaking (or injecting) SQL.
"${psql[@]}" --dbname postgres \
    -v app_password="$(cat "$secrets_dir/app_db_password")" \
    -v migrator_password="$(cat "$secrets_dir/migrator_db_password")" <<'SQL'
SET password_encryption = 'scram-sha-256';
ALTER ROLE shipyard_app PASSWORD :'app_password';
ALTER ROLE shipyard_migrator PASSWORD :'migrator_password';
SQL
