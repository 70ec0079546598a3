#!/bin/bash
# Run once by the postgres container on an empty data folder: the prox catalog's database
# (user `prox`, the same password as Airflow's) beside Airflow's metadata DB.
# The password goes in as a psql variable (:'pw' quotes it): written into the SQL as text, a
# quote, `$` or a backtick in it broke the script and no catalog database was made.
set -euo pipefail
psql -v ON_ERROR_STOP=1 -v pw="$POSTGRES_PASSWORD" --username "$POSTGRES_USER" \
     --dbname "$POSTGRES_DB" <<'EOSQL'
CREATE USER prox WITH PASSWORD :'pw';
CREATE DATABASE prox OWNER prox;
EOSQL
