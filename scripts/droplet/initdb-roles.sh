#!/usr/bin/env bash
# Runs once, inside the postgres container, when the data directory is first initialised
# (/docker-entrypoint-initdb.d). Creates the app's role and database and the replication role used by tier
# migration.
#
# The passwords come from the environment (app.env) and stay out of every command line (`ps` shows argv to every
# user) and out of every file: psql reads this script on standard input, and the script reads the passwords from
# psql's own environment with \getenv (psql 15+, the image's version); :'var' quotes them as SQL literals, so no
# character of a password is read as SQL or by the shell.
set -euo pipefail

: "${APP_DB_PASSWORD:?APP_DB_PASSWORD is not set}"
: "${REPLICATION_PASSWORD:?REPLICATION_PASSWORD is not set}"

psql -X -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --dbname postgres <<'SQL'
\getenv app_pw APP_DB_PASSWORD
\getenv repl_pw REPLICATION_PASSWORD
CREATE ROLE chatbot LOGIN PASSWORD :'app_pw';
CREATE DATABASE chatbot OWNER chatbot;
CREATE ROLE replicator LOGIN REPLICATION PASSWORD :'repl_pw';
SQL
psql -X -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --dbname chatbot \
  -c 'CREATE EXTENSION IF NOT EXISTS pg_stat_statements;'
