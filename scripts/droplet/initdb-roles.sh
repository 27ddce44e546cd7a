#!/usr/bin/env bash
# Runs once, inside the postgres container, when the data directory is first initialised
# (/docker-entrypoint-initdb.d). Creates the app's role and database and the replication role used by tier
# migration. Passwords come from the environment (app.env), never from the command line.
set -euo pipefail

: "${APP_DB_PASSWORD:?APP_DB_PASSWORD is not set}"
: "${REPLICATION_PASSWORD:?REPLICATION_PASSWORD is not set}"

psql -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --dbname postgres \
  -v app_pw="$APP_DB_PASSWORD" -v repl_pw="$REPLICATION_PASSWORD" <<'SQL'
CREATE ROLE chatbot LOGIN PASSWORD :'app_pw';
CREATE DATABASE chatbot OWNER chatbot;
CREATE ROLE replicator LOGIN REPLICATION PASSWORD :'repl_pw';
SQL
psql -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --dbname chatbot \
  -c 'CREATE EXTENSION IF NOT EXISTS pg_stat_statements;'
