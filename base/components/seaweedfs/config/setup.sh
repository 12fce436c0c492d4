#!/bin/sh
# SeaweedFS variant of the bucket Job: users and their bucket-scoped actions
# come from s3.json, so only the bucket is created here. Idempotent.
set -eu

secret() { cat "/var/run/secrets/$1/$2"; }

mc alias set lake "$S3_ENDPOINT_URL" "$(secret minio-root MINIO_ROOT_USER)" \
  "$(secret minio-root MINIO_ROOT_PASSWORD)" >/dev/null
attempt=0
until mc ls lake >/dev/null 2>&1; do
  attempt=$((attempt + 1))
  if [ "$attempt" -ge 60 ]; then
    echo "S3 server at $S3_ENDPOINT_URL not ready after 5 minutes" >&2
    exit 1
  fi
  sleep 5
done
mc mb --ignore-existing "lake/$BUCKET"
echo "bucket $BUCKET ready"
