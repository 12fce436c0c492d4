#!/usr/bin/env bash
# Install the pinned Airflow that the DAG tests use into .venv-airflow.
#
# A separate venv: Airflow's dependency pins clash with the job lock in
# apps/pyproject.toml, and the DAG files never import the job code anyway.
# Airflow's published constraints file cannot be fetched here (only package
# registries are reachable), so the whole resolved set is pinned below: it is
# the set the DAG tests were run with. To upgrade, install the two top-level
# pins into a scratch venv, run tests/dags, and paste its `pip freeze` here.
#
# Idempotent: a stamp named after this file's hash makes the second run a no-op.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${AIRFLOW_VENV:-$ROOT/.venv-airflow}
PYTHON=${PYTHON:-python3.11}
STAMP="$VENV/.stamp-$(sha256sum "${BASH_SOURCE[0]}" | cut -c1-12)"

if [[ -f $STAMP && -x $VENV/bin/airflow ]]; then
  exit 0
fi

if ! command -v "$PYTHON" >/dev/null; then
  echo "airflow-env: $PYTHON not found (set PYTHON=/path/to/python3.11)" >&2
  exit 2
fi

echo "airflow-env: installing Airflow into ${VENV#"$ROOT"/} (one time, ~1 min)"
[[ -x $VENV/bin/python ]] || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q pip==26.3

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
# Airflow writes airflow.cfg and logs/ into AIRFLOW_HOME on import: keep it off ~/airflow.
export AIRFLOW_HOME=$scratch/airflow-home
constraints=$scratch/constraints.txt
cat >"$constraints" <<'PINS'
a2wsgi==1.10.10
aiofiles==25.1.0
aiohappyeyeballs==2.7.1
aiohttp==3.14.5
aiosignal==1.4.0
aiosmtplib==5.1.3
aiosqlite==0.22.1
alembic==1.20.1
annotated-doc==0.0.7
annotated-types==0.8.0
anyio==4.16.0
apache-airflow==3.3.2
apache-airflow-core==3.3.2
apache-airflow-providers-cncf-kubernetes==10.25.0
apache-airflow-providers-common-compat==1.23.0
apache-airflow-providers-common-io==1.11.0
apache-airflow-providers-common-sql==2.4.0
apache-airflow-providers-smtp==3.2.0
apache-airflow-providers-standard==1.21.0
apache-airflow-task-sdk==1.3.2
argcomplete==3.7.2
arrow==1.4.0
asgiref==3.13.0
attrs==26.1.0
babel==2.18.0
cachetools==8.0.2
cadwyn==7.0.0
certifi==2026.10.19.post1
cffi==2.1.1
charset-normalizer==3.5.2
click==8.5.1
colorlog==6.12.0
cron_descriptor==2.2.1
croniter==7.0.0
cryptography==50.0.2
Deprecated==1.3.1
dill==0.4.1
dnspython==2.9.2
durationpy==0.11
email-validator==2.4.0
fastapi==0.136.3
fastapi-cli==0.0.34
frozenlist==1.8.0
fsspec==2026.9.0
googleapis-common-protos==1.76.0
greenback==1.3.0
greenlet==3.5.6
grpcio==1.85.3
h11==0.16.0
httpcore==1.0.9
httptools==0.9.0
httpx==0.28.1
idna==3.20
importlib_metadata==10.2.0
isoduration==20.11.0
itsdangerous==2.2.0
Jinja2==3.1.6
jsonschema==4.26.0
jsonschema-specifications==2025.9.1
kubernetes==36.0.3
kubernetes_asyncio==36.1.0
lazy-importer==0.1.0
lazy-object-proxy==1.13.0
libcst==1.9.0
linkify-it-py==2.2.0
lockfile==0.12.2
Mako==1.4.3
markdown-it-py==4.3.0
MarkupSafe==3.0.4
mdurl==0.1.2
methodtools==0.4.7
more-itertools==11.2.1
msgspec==0.22.0
multidict==7.2.1
natsort==8.4.0
oauthlib==4.0.1
opentelemetry-api==1.45.2
opentelemetry-exporter-http-transport==0.66b2
opentelemetry-exporter-otlp==1.45.2
opentelemetry-exporter-otlp-common==0.66b2
opentelemetry-exporter-otlp-proto-common==1.45.2
opentelemetry-exporter-otlp-proto-grpc==1.45.2
opentelemetry-exporter-otlp-proto-http==1.45.2
opentelemetry-proto==1.45.2
opentelemetry-sdk==1.45.2
opentelemetry-semantic-conventions==0.66b2
outcome==1.3.0.post0
packaging==26.3
pathlib_abc==0.5.2
pathspec==1.1.1
pendulum==3.3.0
pluggy==1.7.0
propcache==0.5.4
protobuf==7.36.2
psutil==7.2.2
pycparser==3.12
pydantic==2.14.4
pydantic-extra-types==2.11.1
pydantic-settings==2.16.3
pydantic_core==2.50.5
Pygments==2.21.0
pygtrie==2.6.2
PyJWT==2.15.1
python-daemon==3.1.2
python-dateutil==4.0.0
python-dotenv==1.2.4
python-multipart==0.0.34
python-slugify==9.2.0
PyYAML==6.0.4
referencing==0.37.0
requests==2.34.2
requests-oauthlib==2.0.0
rich==15.0.0
rich-argparse==1.8.0
rich-toolkit==0.20.6
rpds-py==2026.9.1
setproctitle==1.3.8
shellingham==1.5.4
six==1.17.0
sniffio==1.3.1
SQLAlchemy==2.1.9
sqlparse==0.6.1
starlette==1.10.0
structlog==26.1.0
svcs==26.2.0
tabulate==0.10.0
tenacity==9.2.1
termcolor==3.3.0
text-unidecode==1.3
typer==0.29.2
typing-inspection==0.4.5
typing_extensions==4.16.0
tzdata==2026.6
universal_pathlib==0.3.10
urllib3==2.8.0
uuid6==2025.0.1
uvicorn==0.54.0
uvloop==0.23.0
watchfiles==1.3.0
websocket-client==1.9.2
websockets==17.4
wirerope==1.0.0
wrapt==2.5.2
yarl==1.25.1
zipp==4.1.2
PINS

"$VENV/bin/python" -m pip install -q -c "$constraints" \
  "apache-airflow==3.3.2" "apache-airflow-providers-cncf-kubernetes==10.25.0"
"$VENV/bin/python" -m pip check >/dev/null
"$VENV/bin/airflow" version >/dev/null 2>&1 || {
  echo "airflow-env: the installed Airflow does not start: $VENV/bin/airflow version" >&2
  exit 1
}

rm -f "$VENV"/.stamp-* && touch "$STAMP"
echo "airflow-env: $("$VENV/bin/airflow" version 2>/dev/null | tail -1) ready in ${VENV#"$ROOT"/}"
