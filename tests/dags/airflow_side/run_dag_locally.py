"""Run the Airflow CLI with every KubernetesPodOperator executed as a local process.

Usage (with the Airflow venv's python):

    python run_dag_locally.py dags test market_data 2024-03-05

Each pod task builds its real pod request (the same method the operator uses before
it calls the Kubernetes API); instead of submitting it, this runs the container's
command + args locally, with the environment a kubelet would give the container:
the "image" environment, then each `envFrom` source resolved by name in a local
stand-in for the cluster's ConfigMaps and Secrets, then the pod's `env`. A reference
to an object that does not exist fails the task, as the kubelet would.

Environment:
  MEDALLION_LOCAL_CLUSTER  JSON file {"image_env": {...}, "ConfigMap": {"ns/name": {...}},
                           "Secret": {"ns/name": {...}}}
  MEDALLION_LOCAL_BIN      the image's executables: the command's first word is looked up here
                           by its base name (e.g. /usr/bin/tini -> $MEDALLION_LOCAL_BIN/tini)
  MEDALLION_LOCAL_PODLOG   JSON-lines file: one record per pod run (no secret values)
  MEDALLION_LOCAL_WORKDIR  working directory of the "container"
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
from airflow.sdk.exceptions import AirflowFailException


def _cluster() -> dict:
    return json.loads(Path(os.environ["MEDALLION_LOCAL_CLUSTER"]).read_text())


def container_env(pod, cluster: dict) -> dict[str, str]:
    ns = pod.metadata.namespace
    (container,) = pod.spec.containers
    env = dict(cluster.get("image_env") or {})
    for src in container.env_from or []:
        if src.config_map_ref is not None:
            kind, ref = "ConfigMap", src.config_map_ref
        elif src.secret_ref is not None:
            kind, ref = "Secret", src.secret_ref
        else:
            raise AirflowFailException(f"unsupported envFrom source {src}")
        data = (cluster.get(kind) or {}).get(f"{ns}/{ref.name}")
        if data is None:
            if ref.optional:
                continue
            raise AirflowFailException(
                f"CreateContainerConfigError: {kind} {ns}/{ref.name} not found"
            )
        env.update({(src.prefix or "") + k: str(v) for k, v in data.items()})
    # The downward API, as the kubelet resolves it for this pod (the local "pod" is this process).
    fields = {"metadata.name": pod.metadata.name or "local", "metadata.namespace": ns, "status.podIP": "127.0.0.1"}
    for var in container.env or []:
        ref = var.value_from.field_ref if var.value_from is not None else None
        if var.value_from is not None and (ref is None or ref.field_path not in fields):
            raise AirflowFailException(f"env {var.name}: valueFrom {var.value_from} is not supported locally")
        env[var.name] = fields[ref.field_path] if ref is not None else (var.value or "")
    return env


def execute_locally(self: KubernetesPodOperator, context):
    pod = self.build_pod_request_obj(context, dry_run=True)
    (container,) = pod.spec.containers
    argv = [*(container.command or []), *(container.args or [])]
    if not argv:
        raise AirflowFailException(
            "the pod sets no command: the image entrypoint is unknown locally"
        )
    bin_dir = Path(os.environ["MEDALLION_LOCAL_BIN"])
    exe = bin_dir / Path(argv[0]).name
    if not exe.exists():
        raise AirflowFailException(f"{argv[0]} is not in {bin_dir} (the job image's PATH)")
    cluster = _cluster()
    env = container_env(pod, cluster)
    env["PATH"] = f"{bin_dir}:{env.get('PATH') or os.environ.get('PATH', '/usr/bin:/bin')}"
    self.log.info(
        "local pod %s/%s (%s): %s",
        pod.metadata.namespace,
        pod.metadata.name,
        container.image,
        " ".join(argv),
    )
    started = time.monotonic()
    proc = subprocess.Popen(
        [str(exe), *argv[1:]],
        env=env,
        cwd=os.environ.get("MEDALLION_LOCAL_WORKDIR") or None,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    last = ""
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            line = line.rstrip()
            last = line or last
            self.log.info("%s", line)
        rc = proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    record = {
        "dag_id": context["dag"].dag_id,
        "task_id": self.task_id,
        "run_id": context["run_id"],
        "namespace": pod.metadata.namespace,
        "service_account": pod.spec.service_account_name,
        "image": container.image,
        "argv": argv,
        "env_from": [(s.config_map_ref or s.secret_ref).name for s in container.env_from or []],
        "env_keys": sorted(env),
        "config": {
            k: env[k]
            for k in ("LAKE_ROOT", "MARKET_SOURCE", "WATCHLIST", "BAR_INTERVAL")
            if k in env
        },
        "returncode": rc,
        "seconds": round(time.monotonic() - started, 2),
        "last_line": last,
    }
    with open(os.environ["MEDALLION_LOCAL_PODLOG"], "a") as f:
        f.write(json.dumps(record) + "\n")
    if rc != 0:
        # No retries in a test run: the operator's retry delays would only slow it down.
        raise AirflowFailException(f"pod {pod.metadata.name} exited with {rc}")


def main(argv: list[str]) -> int:
    KubernetesPodOperator.execute = execute_locally
    from airflow.__main__ import main as airflow_main

    sys.argv = ["airflow", *argv]
    return airflow_main() or 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
