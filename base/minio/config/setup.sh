#!/bin/sh
# Creates the lake bucket and the two least-privilege users on MinIO.
# Idempotent: every step either creates or converges to the same state, so the
# PostSync hook can run after every sync.
set -eu

secret() { cat "/var/run/secrets/$1/$2"; }

root_user=$(secret minio-root MINIO_ROOT_USER)
root_password=$(secret minio-root MINIO_ROOT_PASSWORD)

attempt=0
until mc alias set lake "$S3_ENDPOINT_URL" "$root_user" "$root_password" >/dev/null 2>&1 \
  && mc admin info lake >/dev/null 2>&1; do
  attempt=$((attempt + 1))
  if [ "$attempt" -ge 60 ]; then
    echo "S3 server at $S3_ENDPOINT_URL not ready after 5 minutes" >&2
    exit 1
  fi
  sleep 5
done

mc mb --ignore-existing "lake/$BUCKET"

# `policy create` overwrites an existing policy of the same name.
mc admin policy create lake lake-readwrite /config/policy-lake-readwrite.json
mc admin policy create lake lake-readonly /config/policy-lake-readonly.json

# ensure_user <secret-dir> <policy>
ensure_user() {
  access_key=$(secret "$1" AWS_ACCESS_KEY_ID)
  secret_key=$(secret "$1" AWS_SECRET_ACCESS_KEY)
  # `user add` creates the user or resets its secret key to the same value.
  mc admin user add lake "$access_key" "$secret_key"
  if ! mc admin user info lake "$access_key" --json | grep -q "\"$2\""; then
    mc admin policy attach lake "$2" --user "$access_key"
  fi
  echo "user $access_key has policy $2"
}

ensure_user minio-medallion lake-readwrite
ensure_user minio-jupyter lake-readonly

echo "bucket $BUCKET ready"
