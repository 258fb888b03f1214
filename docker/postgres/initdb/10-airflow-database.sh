#!/bin/sh
# Run once by the official postgres image, on an empty data volume, before the server
# starts for real (/docker-entrypoint-initdb.d): Airflow's metadata database and role, in
# the same PostgreSQL as the payments schema but owned by its own login.
# The `payments` schema itself is applied by `paystream up` (the paystream-init service).
set -eu
: "${AIRFLOW_DB_USER:=airflow}"
: "${AIRFLOW_DB_PASSWORD:?set AIRFLOW_DB_PASSWORD (see .env.example)}"
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -v user="$AIRFLOW_DB_USER" -v password="$AIRFLOW_DB_PASSWORD" <<'SQL'
CREATE ROLE :"user" LOGIN PASSWORD :'password';
CREATE DATABASE airflow OWNER :"user";
SQL
