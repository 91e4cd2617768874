#!/bin/sh
# Runs once, when the PostgreSQL container initialises its data directory: the application gets
# its own role, which owns its database but is not a superuser. A superuser would bypass
# row-level security, the database's wall between partners.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
    -v app_password="$AURORA_DB_PASSWORD" <<-'EOSQL'
	CREATE ROLE aurora LOGIN PASSWORD :'app_password' NOSUPERUSER NOBYPASSRLS NOCREATEROLE;
	CREATE DATABASE aurora OWNER aurora;
EOSQL
