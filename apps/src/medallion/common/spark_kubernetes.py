"""Scale-out on Spark's native Kubernetes scheduler (SPARK_MASTER=k8s://...), client mode.

The stage pod Airflow starts is the driver; Spark asks the Kubernetes API for executor pods of
the same image in the same namespace. What the driver needs comes from its own pod:

  POD_NAME, POD_NAMESPACE, POD_IP   downward API (the DAG sets them on every stage pod); the
                                    executors are owned by the driver pod (deleted with it)
                                    and call back to its IP
  SPARK_K8S_IMAGE                   the stage's own image (the DAG sets it)
  SPARK_EXECUTOR_INSTANCES          default 2
  SPARK_EXECUTOR_CORES              default 1
  SPARK_EXECUTOR_MEMORY             default 1g (JVM heap; Spark adds its overhead to the pod)

The ServiceAccount token and CA of the pod authenticate the driver (a namespaced Role allows
exactly pods, services and configmaps in the jobs namespace: base/components/spark-on-kubernetes).
Executor pods take `executor-pod-template.yaml` (Pod Security "restricted"), and run
`medallion-spark-executor`, which starts Spark's executor backend in the job image.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Mapping
from importlib import resources
from pathlib import Path

from medallion.common.config import ConfigError

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
DRIVER_PORT = 7078
BLOCK_MANAGER_PORT = 7079


def is_kubernetes(master: str) -> bool:
    return master.startswith("k8s://")


def _required(env: Mapping[str, str], name: str, why: str) -> str:
    value = (env.get(name) or "").strip()
    if not value:
        raise ConfigError(f"{name} is not set: SPARK_MASTER=k8s://... needs it ({why})")
    return value


def _positive_int(env: Mapping[str, str], name: str, default: int) -> str:
    raw = (env.get(name) or str(default)).strip()
    if not raw.isdigit() or int(raw) < 1:
        raise ConfigError(f"{name}={raw!r} is not a positive integer")
    return raw


def executor_pod_template() -> Path:
    """The packaged executor pod template, as a file Spark can read."""
    text = resources.files("medallion.common").joinpath("executor-pod-template.yaml").read_text()
    f = Path(tempfile.gettempdir()) / "medallion-executor-pod-template.yaml"
    f.write_text(text)
    return f


def kubernetes_conf(env: Mapping[str, str]) -> dict[str, str]:
    """Spark settings of the client-mode driver for a k8s:// master (plain key/values).
    SPARK_K8S_SERVICEACCOUNT_DIR points at another token and CA (a driver outside a pod)."""
    token_dir = Path(env.get("SPARK_K8S_SERVICEACCOUNT_DIR") or SERVICE_ACCOUNT_DIR)
    namespace = _required(env, "POD_NAMESPACE", "the namespace executors are created in")
    return {
        "spark.kubernetes.namespace": namespace,
        "spark.kubernetes.container.image": _required(
            env, "SPARK_K8S_IMAGE", "the executors' image"
        ),
        "spark.kubernetes.container.image.pullPolicy": "IfNotPresent",
        # Executors are owned by the driver pod: they go when the stage pod goes.
        "spark.kubernetes.driver.pod.name": _required(env, "POD_NAME", "the executors' owner"),
        "spark.driver.host": _required(env, "POD_IP", "the address executors call back to"),
        "spark.driver.bindAddress": "0.0.0.0",
        "spark.driver.port": str(DRIVER_PORT),
        "spark.driver.blockManager.port": str(BLOCK_MANAGER_PORT),
        "spark.executor.instances": _positive_int(env, "SPARK_EXECUTOR_INSTANCES", 2),
        "spark.executor.cores": _positive_int(env, "SPARK_EXECUTOR_CORES", 1),
        "spark.kubernetes.executor.request.cores": _positive_int(env, "SPARK_EXECUTOR_CORES", 1),
        "spark.executor.memory": (env.get("SPARK_EXECUTOR_MEMORY") or "1g").strip(),
        "spark.kubernetes.executor.podTemplateFile": str(executor_pod_template()),
        "spark.kubernetes.executor.podNamePrefix": f"{env['POD_NAME'][:40]}-exec",
        "spark.kubernetes.executor.deleteOnTermination": "true",
        "spark.kubernetes.authenticate.caCertFile": str(token_dir / "ca.crt"),
        "spark.kubernetes.authenticate.oauthTokenFile": str(token_dir / "token"),
    }


def executor_command(env: Mapping[str, str]) -> list[str]:
    """The executor backend's command line from the variables Spark sets on executor pods."""
    import pyspark

    jars = [str(Path(pyspark.__file__).parent / "jars" / "*")]
    extra = (env.get("MEDALLION_JARS_DIR") or "").strip()
    if extra:
        jars.append(str(Path(extra) / "*"))
    java_opts = [env[k] for k in sorted(env) if k.startswith("SPARK_JAVA_OPT_")]
    java = str(Path(env["JAVA_HOME"]) / "bin" / "java") if env.get("JAVA_HOME") else "java"
    return [
        java,
        f"-Xms{env.get('SPARK_EXECUTOR_MEMORY', '1g')}",
        f"-Xmx{env.get('SPARK_EXECUTOR_MEMORY', '1g')}",
        *java_opts,
        "-cp",
        ":".join(jars),
        "org.apache.spark.scheduler.cluster.k8s.KubernetesExecutorBackend",
        "--driver-url", env["SPARK_DRIVER_URL"],
        "--executor-id", env["SPARK_EXECUTOR_ID"],
        "--cores", env.get("SPARK_EXECUTOR_CORES", "1"),
        "--app-id", env["SPARK_APPLICATION_ID"],
        "--hostname", env["SPARK_EXECUTOR_POD_IP"],
        "--resourceProfileId", env.get("SPARK_RESOURCE_PROFILE_ID", "0"),
        "--podName", env.get("SPARK_EXECUTOR_POD_NAME", ""),
    ]


def executor_main() -> None:
    """`medallion-spark-executor`: the command of an executor pod (see the pod template)."""
    needed = (
        "SPARK_DRIVER_URL",
        "SPARK_EXECUTOR_ID",
        "SPARK_APPLICATION_ID",
        "SPARK_EXECUTOR_POD_IP",
    )
    missing = [k for k in needed if not os.environ.get(k)]
    if missing:
        sys.exit(
            f"medallion-spark-executor: {', '.join(missing)} not set "
            "(Spark sets them on executor pods)"
        )
    cmd = executor_command(os.environ)
    os.execvp(cmd[0], cmd)
