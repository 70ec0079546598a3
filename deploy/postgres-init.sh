#!/bin/bash
# Run once by the postgres container on an empty data folder: the prox catalog's database
# (user `prox`, the same password as Airflow's) beside Airflow's metadata DB.
set -euo pipefail
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<EOSQL
CREATE USER prox WITH PASSWORD '${POSTGRES_PASSWORD}';
CREATE DATABASE prox OWNER prox;
EOSQL
