"""The Airflow api-server as the cluster configures it: Airflow itself reads the rendered
airflow-config ConfigMap and the Deployment's own env, and must come to no more worker
processes than the container's memory limit holds. (Airflow 3.3's default for [api] workers
is 1, per its config.yml; older 3.x releases and many charts use 4, which a 1 GiB limit does not
hold. This fails if a setting or an upgrade raises it.)"""

from __future__ import annotations

import subprocess

import dag_harness as h

# One api-server worker holds the FastAPI app, the providers and the DAG bag; 4 of them
# outgrow a 1 GiB limit. The limit is read from the rendered Deployment below.
MAX_WORKERS_PER_GIB = 1


def _api_server(cluster: h.Cluster) -> tuple[dict[str, str], int]:
    dep = cluster.find("Deployment", "airflow", "airflow-api-server")
    assert dep is not None, "the airflow-api-server Deployment is not rendered"
    (c,) = [c for c in dep["spec"]["template"]["spec"]["containers"] if "api-server" in (c.get("args") or [])]
    env: dict[str, str] = {}
    for src in c.get("envFrom") or []:
        ref = src.get("configMapRef")
        if ref:
            env.update(cluster.find("ConfigMap", "airflow", ref["name"])["data"])
    env.update({e["name"]: e["value"] for e in c.get("env") or [] if "value" in e})
    limit_gib = h.quantity(c["resources"]["limits"]["memory"]) / 2**30
    return env, limit_gib


def test_the_api_server_runs_as_many_workers_as_its_memory_allows(cluster, tmp_path):
    env, limit_gib = _api_server(cluster)
    # Settings read from mounted secret files (`_CMD`) cannot run here and do not bear on this.
    env = {k: v for k, v in env.items() if not k.endswith("_CMD")}
    python = h.require_airflow()
    p = subprocess.run(
        [str(python), "-m", "airflow", "config", "get-value", "api", "workers"],
        env=h.airflow_env(tmp_path, env),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode == 0, p.stderr[-2000:]
    workers = int(p.stdout.strip().splitlines()[-1])
    assert workers <= max(1, int(limit_gib * MAX_WORKERS_PER_GIB)), (
        f"Airflow resolves [api] workers = {workers} inside a {limit_gib:.2g} GiB limit"
    )
