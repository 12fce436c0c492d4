"""What every medallion DAG shares: the job pod spec, the stages, the layer Assets.

DAG files only declare tasks; the jobs themselves live in `apps/` and run in their
own image. Each stage is one pod in namespace `medallion` that runs the stage's CLI
(`medallion <stage> --start D --end D2` under tini) and reads its settings from the ConfigMap
`medallion-config` and the Secrets `medallion-s3` / `medallion-analytics` — the
names the manifests in base/medallion and bootstrap/ create (tests/dags checks them
against the rendered manifests).

Image references are read at parse time from environment variables that the
dag-processor and scheduler get from the ConfigMap `medallion-images` (ns airflow,
rendered by overlays/kind/airflow; CI's tag bump edits it). A missing one is an
import error that names the variable and the ConfigMap, never a silent default.

Only light imports here (the Kubernetes client models and the provider operator):
parsing must never load Spark or the job package.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
from airflow.sdk import Asset
from kubernetes.client import models as k8s

# --------------------------------------------------------------------------- cluster contract
JOB_NAMESPACE = "medallion"
JOB_SERVICE_ACCOUNT = "medallion-job"
JOB_CONFIGMAP = "medallion-config"
JOB_SECRETS = ("medallion-s3", "medallion-analytics")
IMAGES_CONFIGMAP = "medallion-images"  # in ns airflow, envFrom of dag-processor and scheduler
# Every job image has the `medallion` console script; tini (the images' PID 1) forwards
# SIGTERM to it and reaps the JVM. Setting the command explicitly makes a pod
# independent of which image's ENTRYPOINT it runs in.
JOB_COMMAND = ("/usr/bin/tini", "--", "medallion")
JOB_UID = 10001

OWNER = "data-platform"
TAGS = ("medallion", "market-data")

# The day a run processes: [logical date, logical date + 1 day) in UTC dates.
# The DAG's CronTriggerTimetable has data_interval_start == data_interval_end, so
# the day comes from the logical date: a run with logical date D covers day D.
DAY_START = "{{ logical_date | ds }}"
DAY_END = "{{ macros.ds_add(logical_date | ds, 1) }}"

# Optional per-run overrides. An empty value is dropped from the pod (see
# MedallionPodOperator), so the ConfigMap's value applies.
WATCHLIST_VARIABLE = "medallion_watchlist"
WATCHLIST_TEMPLATE = (
    "{{ params.watchlist | default('', true) or var.value.get('" + WATCHLIST_VARIABLE + "', '') }}"
)
BAR_INTERVAL_TEMPLATE = "{{ params.bar_interval | default('', true) }}"
BAR_INTERVALS = ("1d", "1h", "30m", "15m", "5m", "2m", "1m")


# --------------------------------------------------------------------------- lineage
# Assets name the layers so the Airflow UI draws bronze → silver → gold → PostgreSQL.
LAKE = "s3://lake"
BRONZE = Asset(name="medallion_bronze", uri=f"{LAKE}/bronze", group="medallion")
SILVER = Asset(name="medallion_silver_prices", uri=f"{LAKE}/silver/prices", group="medallion")
GOLD = Asset(name="medallion_gold_daily", uri=f"{LAKE}/gold/daily", group="medallion")
ANALYTICS = Asset(
    name="analytics_gold_daily",
    uri="postgres://postgres.database.svc.cluster.local:5432/analytics/public/gold_daily",
    group="medallion",
)


# --------------------------------------------------------------------------- images
class MissingImageError(RuntimeError):
    """A job image variable is not set in the Airflow process that parses the DAG."""


def job_image(env_key: str) -> str:
    value = os.environ.get(env_key, "").strip()
    if not value:
        raise MissingImageError(
            f"{env_key} is not set: the dag-processor and scheduler get the job image "
            f"references from ConfigMap {IMAGES_CONFIGMAP} (keys INGESTOR_IMAGE, "
            "TRANSFORMER_IMAGE, AGGREGATOR_IMAGE; rendered by overlays/kind/airflow). "
            f"Locally: export {env_key}=<image:tag>."
        )
    return value


# --------------------------------------------------------------------------- pod spec
def _resources(
    cpu: str, memory: str, cpu_limit: str, memory_limit: str
) -> k8s.V1ResourceRequirements:
    return k8s.V1ResourceRequirements(
        requests={"cpu": cpu, "memory": memory},
        limits={"cpu": cpu_limit, "memory": memory_limit},
    )


# HTTP only; never loads Spark.
LIGHT = _resources("100m", "256Mi", "500m", "512Mi")
# Spark local mode in one pod: a 1 GiB driver heap, Python workers, off-heap. Two such
# requests fit ResourceQuota medallion-jobs (requests.memory 1536Mi for the namespace), so a
# retried stage's first try and the retry fit at once; the limit gives the JVM its headroom.
SPARK = _resources("250m", "768Mi", "1", "2Gi")


@dataclass(frozen=True)
class Stage:
    name: str  # the CLI sub-command
    image_env: str  # key in ConfigMap medallion-images
    resources: k8s.V1ResourceRequirements
    timeout: timedelta
    inlets: tuple[Asset, ...] = ()
    outlets: tuple[Asset, ...] = ()
    doc: str = ""


STAGES: dict[str, Stage] = {
    s.name: s
    for s in (
        Stage(
            "ingest",
            "INGESTOR_IMAGE",
            LIGHT,
            timedelta(minutes=30),
            (),
            (BRONZE,),
            "Fetch the day's bars for the watchlist into bronze (raw, write-once).",
        ),
        Stage(
            "transform",
            "TRANSFORMER_IMAGE",
            SPARK,
            timedelta(minutes=45),
            (BRONZE,),
            (SILVER,),
            "Type, check and de-duplicate new bronze objects into silver (Delta MERGE).",
        ),
        Stage(
            "aggregate",
            "AGGREGATOR_IMAGE",
            SPARK,
            timedelta(minutes=45),
            (SILVER,),
            (GOLD,),
            "Recompute the gold daily metrics for the affected symbols and dates.",
        ),
        Stage(
            "publish",
            "AGGREGATOR_IMAGE",
            SPARK,
            timedelta(minutes=20),
            (GOLD,),
            (ANALYTICS,),
            "Publish gold to PostgreSQL analytics.public.gold_daily in one transaction.",
        ),
        Stage(
            "maintain",
            "AGGREGATOR_IMAGE",
            SPARK,
            timedelta(hours=2),
            (SILVER, GOLD),
            (),
            "OPTIMIZE and VACUUM the silver and gold Delta tables.",
        ),
    )
}
PIPELINE = ("ingest", "transform", "aggregate", "publish")


def pod_security_context() -> k8s.V1PodSecurityContext:
    return k8s.V1PodSecurityContext(
        run_as_non_root=True,
        run_as_user=JOB_UID,
        run_as_group=JOB_UID,
        fs_group=JOB_UID,
        seccomp_profile=k8s.V1SeccompProfile(type="RuntimeDefault"),
    )


def container_security_context() -> k8s.V1SecurityContext:
    return k8s.V1SecurityContext(
        allow_privilege_escalation=False,
        read_only_root_filesystem=True,
        run_as_non_root=True,
        capabilities=k8s.V1Capabilities(drop=["ALL"]),
    )


def env_from() -> list[k8s.V1EnvFromSource]:
    return [
        k8s.V1EnvFromSource(config_map_ref=k8s.V1ConfigMapEnvSource(name=JOB_CONFIGMAP)),
        *(k8s.V1EnvFromSource(secret_ref=k8s.V1SecretEnvSource(name=s)) for s in JOB_SECRETS),
    ]


class MedallionPodOperator(KubernetesPodOperator):
    """A KubernetesPodOperator whose empty env overrides fall back to the ConfigMap.

    In Kubernetes an `env` entry wins over `envFrom`, even when empty; an override
    that renders to "" (no run param, no Variable) is therefore left out of the pod.
    """

    def build_pod_request_obj(self, context=None, *, dry_run: bool = False) -> k8s.V1Pod:
        pod = super().build_pod_request_obj(context, dry_run=dry_run)
        for container in pod.spec.containers:
            container.env = [
                e
                for e in container.env or []
                if e.value_from is not None or (e.value or "").strip()
            ]
        return pod


def driver_identity(image: str) -> list[k8s.V1EnvVar]:
    """What a stage needs to be a Spark driver on Kubernetes (SPARK_MASTER=k8s://...): its pod
    name, namespace and IP (downward API) and its own image for the executors. Unused in
    Spark's local mode."""
    field = {
        "POD_NAME": "metadata.name",
        "POD_NAMESPACE": "metadata.namespace",
        "POD_IP": "status.podIP",
    }
    return [
        *(
            k8s.V1EnvVar(
                name=k,
                value_from=k8s.V1EnvVarSource(field_ref=k8s.V1ObjectFieldSelector(field_path=v)),
            )
            for k, v in field.items()
        ),
        k8s.V1EnvVar(name="SPARK_K8S_IMAGE", value=image),
    ]


def stage_pod(
    stage: str,
    arguments: Sequence[str],
    *,
    env_overrides: dict[str, str] | None = None,
    task_id: str | None = None,
    **kwargs: Any,
) -> MedallionPodOperator:
    """One pipeline stage as a pod: `medallion <stage> <arguments>` in the stage's image."""
    spec = STAGES[stage]
    return MedallionPodOperator(
        task_id=task_id or stage,
        name=f"medallion-{stage}",
        namespace=JOB_NAMESPACE,
        service_account_name=JOB_SERVICE_ACCOUNT,
        # The ServiceAccount decides (base: no token; Spark on Kubernetes: the driver's token).
        automount_service_account_token=None,
        image=job_image(spec.image_env),
        image_pull_policy="IfNotPresent",
        cmds=list(JOB_COMMAND),
        arguments=[stage, *arguments],
        env_from=env_from(),
        env_vars=[
            *(k8s.V1EnvVar(name=k, value=v) for k, v in (env_overrides or {}).items()),
            *driver_identity(job_image(spec.image_env)),
        ],
        container_resources=spec.resources,
        security_context=pod_security_context(),
        container_security_context=container_security_context(),
        # The root filesystem is read-only: Spark's scratch space and temp files go here.
        volumes=[k8s.V1Volume(name="tmp", empty_dir=k8s.V1EmptyDirVolumeSource(size_limit="2Gi"))],
        volume_mounts=[k8s.V1VolumeMount(name="tmp", mount_path="/tmp")],
        labels={
            "app.kubernetes.io/name": "medallion",
            "app.kubernetes.io/component": stage,
            "app.kubernetes.io/part-of": "data-stack",
        },
        # After a scheduler restart, follow the pod that is already running
        # (durable supersedes reattach_on_restart on Airflow 3.3+).
        durable=True,
        on_finish_action="delete_pod",
        get_logs=True,
        log_events_on_failure=True,
        startup_timeout_seconds=600,  # first pull of a Spark image on a laptop
        execution_timeout=spec.timeout,
        doc_md=f"`medallion {stage}` — {spec.doc}",
        inlets=list(spec.inlets),
        outlets=list(spec.outlets),
        **kwargs,
    )


def default_args(**overrides: Any) -> dict[str, Any]:
    """Reliability settings every medallion task shares."""
    args: dict[str, Any] = {
        "owner": OWNER,
        "retries": 3,
        "retry_delay": timedelta(minutes=2),
        "retry_exponential_backoff": 2.0,  # 2, 4, 8 min
        "max_retry_delay": timedelta(minutes=30),
        "execution_timeout": timedelta(hours=1),
    }
    args.update(overrides)
    return args
