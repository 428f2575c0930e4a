#!/bin/sh
# One database per rectrack service, each owned by a role of its own, so no service can read another's tables.
# Run once by the postgres image, on an empty data volume only (docker-entrypoint-initdb.d).
set -e

: "${BODIES_DB_PASSWORD:?BODIES_DB_PASSWORD is not set}"
: "${RECOMMENDATIONS_DB_PASSWORD:?RECOMMENDATIONS_DB_PASSWORD is not set}"
: "${NOTIFICATIONS_DB_PASSWORD:?NOTIFICATIONS_DB_PASSWORD is not set}"

create_service_database() {
    # $1: database and role name, $2: the role's password (passed as psql variables, never spliced into SQL text)
    psql --set=ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
        --set=name="$1" --set=password="$2" <<'SQL'
CREATE ROLE :"name" LOGIN PASSWORD :'password';
CREATE DATABASE :"name" OWNER :"name";
REVOKE ALL ON DATABASE :"name" FROM PUBLIC;
GRANT ALL ON DATABASE :"name" TO :"name";
SQL
}

create_service_database rectrack_bodies "$BODIES_DB_PASSWORD"
create_service_database rectrack_recommendations "$RECOMMENDATIONS_DB_PASSWORD"
create_service_database rectrack_notifications "$NOTIFICATIONS_DB_PASSWORD"
