#!/bin/sh
# Runs once, when the PostgreSQL container initialises its data directory. Two roles, neither a
# superuser (a superuser would bypass row-level security, the database's wall between partners):
#   aurora_owner  owns the database and its schema: `migrate`, grants, backups and restores;
#   aurora        the application: owns nothing; `migrate` grants it what each table needs.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
    -v app_password="$AURORA_DB_PASSWORD" -v owner_password="$AURORA_DB_OWNER_PASSWORD" <<-'EOSQL'
	CREATE ROLE aurora_owner LOGIN PASSWORD :'owner_password' NOSUPERUSER NOBYPASSRLS NOCREATEROLE;
	CREATE ROLE aurora LOGIN PASSWORD :'app_password' NOSUPERUSER NOBYPASSRLS NOCREATEROLE NOCREATEDB;
	CREATE DATABASE aurora OWNER aurora_owner;
EOSQL
