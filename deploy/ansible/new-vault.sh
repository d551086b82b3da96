#!/bin/sh
# Write an ansible-vault file with a fresh random value for every secret the roles use.
#   new-vault.sh OUTPUT.yml PASSWORD_FILE
# PASSWORD_FILE holds the vault password (created, random, mode 0600, if it does not exist).
# The plain text exists only in a pipe: ansible-vault reads it on stdin.
set -eu
out=$1
password_file=$2
ansible_vault=${ANSIBLE_VAULT:-ansible-vault}
umask 077
[ -s "$password_file" ] || openssl rand -hex 32 > "$password_file"
{
    echo "---"
    for name in vault_shipyard_secret_key vault_db_app_password vault_db_migrator_password \
        vault_db_mcp_password vault_redis_app_password vault_redis_admin_password vault_oidc_client_secret; do
        echo "$name: $(openssl rand -hex 32)"
    done
} | "$ansible_vault" encrypt --vault-password-file "$password_file" --output "$out" -
