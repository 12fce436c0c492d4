#!/bin/bash
# Databases and roles of the stack. Passwords are read from the files of the
# Secrets bootstrap/ generated (never from git) and passed to psql as
# variables, so they appear in no command line and no log.
#
# Idempotent: run once by the image's entrypoint on an empty data directory
# (unix socket, temporary server), then by the postgres-roles Job after every
# sync (PGHOST set). Every statement creates what is missing or converges.
set -euo pipefail

secret() { cat "/var/run/secrets/$1/$2"; }

PGPASSWORD="$(secret postgres-superuser POSTGRES_PASSWORD)"
export PGPASSWORD

if [ -n "${PGHOST:-}" ]; then
  # --username: the Job's uid has no passwd entry, and without a user name libpq
  # cannot work one out, so pg_isready would never report ready (it exits 3).
  for _ in $(seq 1 60); do
    pg_isready --quiet --username "${POSTGRES_USER:-postgres}" && break
    sleep 5
  done
fi

psql -v ON_ERROR_STOP=1 --no-psqlrc --username "${POSTGRES_USER:-postgres}" --dbname postgres \
  -v airflow_pw="$(secret postgres-roles AIRFLOW_PASSWORD)" \
  -v metabase_pw="$(secret postgres-roles METABASE_PASSWORD)" \
  -v analytics_pw="$(secret postgres-roles ANALYTICS_PASSWORD)" \
  -v reader_pw="$(secret postgres-roles ANALYTICS_READER_PASSWORD)" <<'SQL'
-- One login role per client, each owning its own database.
SELECT format('CREATE ROLE %I LOGIN', r) FROM unnest(ARRAY['airflow', 'metabase', 'analytics', 'analytics_reader']) AS r
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = r) \gexec
ALTER ROLE airflow PASSWORD :'airflow_pw';
ALTER ROLE metabase PASSWORD :'metabase_pw';
ALTER ROLE analytics PASSWORD :'analytics_pw';
ALTER ROLE analytics_reader PASSWORD :'reader_pw';

SELECT format('CREATE DATABASE %I OWNER %I', d, d) FROM unnest(ARRAY['airflow', 'metabase', 'analytics']) AS d
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = d) \gexec

-- No role reaches another client's database.
REVOKE ALL ON DATABASE airflow, metabase, analytics FROM PUBLIC;
GRANT CONNECT ON DATABASE analytics TO analytics_reader;

-- analytics_reader: read-only on everything the analytics role (the jobs'
-- publish step) creates in the analytics database, now and later. Metabase
-- connects with it.
\connect analytics
GRANT USAGE ON SCHEMA public TO analytics_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO analytics_reader;
ALTER DEFAULT PRIVILEGES FOR ROLE analytics GRANT USAGE ON SCHEMAS TO analytics_reader;
ALTER DEFAULT PRIVILEGES FOR ROLE analytics GRANT SELECT ON TABLES TO analytics_reader;
SQL
echo "databases airflow, metabase, analytics and their roles are in place"
