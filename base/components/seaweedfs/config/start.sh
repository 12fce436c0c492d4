#!/bin/sh
# Starts SeaweedFS as one process (master, volume server, filer, S3 gateway on
# 9000). The S3 identities are rendered from the mounted Secrets into /tmp, so
# no credential is in the pod spec or on the image's filesystem.
set -eu

s() { cat "/var/run/secrets/$1/$2"; }
# ident <name> <access key> <secret key> <actions as a JSON list>
ident() {
  printf '{"name":"%s","credentials":[{"accessKey":"%s","secretKey":"%s"}],"actions":%s}' "$1" "$2" "$3" "$4"
}

{
  printf '{"identities":['
  ident admin "$(s minio-root MINIO_ROOT_USER)" "$(s minio-root MINIO_ROOT_PASSWORD)" \
    '["Admin","Read","List","Tagging","Write"]'
  printf ','
  # The jobs: read/write on bucket lake only (MinIO's lake-readwrite policy).
  ident medallion "$(s minio-medallion AWS_ACCESS_KEY_ID)" "$(s minio-medallion AWS_SECRET_ACCESS_KEY)" \
    '["Read:lake","List:lake","Tagging:lake","Write:lake"]'
  printf ','
  # Jupyter: read-only on bucket lake (MinIO's lake-readonly policy).
  ident jupyter "$(s minio-jupyter AWS_ACCESS_KEY_ID)" "$(s minio-jupyter AWS_SECRET_ACCESS_KEY)" \
    '["Read:lake","List:lake"]'
  printf ']}\n'
} >/tmp/s3.json

exec weed server -dir=/data -ip.bind=0.0.0.0 -volume.max=0 \
  -master.volumeSizeLimitMB=512 \
  -filer -filer.port=8888 \
  -s3 -s3.port=9000 -s3.config=/tmp/s3.json
