"""Stage order, the day each run covers, overrides, lineage, and the pod spec checked
against what the kind cluster's Applications render."""

from __future__ import annotations

import subprocess

import dag_harness as h
import pytest

PIPELINE = ["ingest", "transform", "aggregate", "publish"]
LAKE = "s3://lake"


# Every stage pod carries what it needs to be a Spark driver on Kubernetes (unused in local mode).
DRIVER_IDENTITY = {"POD_NAME", "POD_NAMESPACE", "POD_IP", "SPARK_K8S_IMAGE"}


def env_of(task: dict) -> dict[str, str]:
    """The run's overrides: the pod's env without the driver identity."""
    return {
        e["name"]: e.get("value")
        for e in task["pod"]["spec"]["containers"][0].get("env") or []
        if e["name"] not in DRIVER_IDENTITY
    }


def test_each_stage_pod_knows_itself_as_a_spark_driver(renders):
    for stage in PIPELINE:
        c = renders["tue"][stage]["pod"]["spec"]["containers"][0]
        env = {e["name"]: e for e in c.get("env") or []}
        assert {k: env[k]["valueFrom"]["fieldRef"]["fieldPath"] for k in ("POD_NAME", "POD_NAMESPACE", "POD_IP")} == {
            "POD_NAME": "metadata.name",
            "POD_NAMESPACE": "metadata.namespace",
            "POD_IP": "status.podIP",
        }
        assert env["SPARK_K8S_IMAGE"]["value"] == c["image"]


def args_of(task: dict) -> list[str]:
    return task["pod"]["spec"]["containers"][0]["args"]


# --------------------------------------------------------------------------- order and schedule


def test_stages_run_in_order_one_after_the_other(report):
    tasks = report["dags"]["market_data"]["tasks"]
    assert report["dags"]["market_data"]["topological"] == PIPELINE
    for before, after in zip(PIPELINE, PIPELINE[1:], strict=False):
        assert tasks[before]["downstream"] == [after]
        assert tasks[after]["upstream"] == [before]
    assert tasks["ingest"]["upstream"] == [] and tasks["publish"]["downstream"] == []


def test_scheduled_after_the_close_on_weekdays_only(report):
    runs = report["dags"]["market_data"]["schedule"]
    # from Thursday 2024-03-07: Thu, Fri, then Mon..Fri — no weekend runs
    assert [r["logical_date"] for r in runs] == [
        f"2024-03-{d:02d}T22:30:00+00:00" for d in (7, 8, 11, 12, 13, 14, 15, 18)
    ]
    for r in runs:
        assert r["run_after"] == r["logical_date"]


@pytest.mark.parametrize("dag_id", ["market_data", "medallion_maintenance"])
def test_dags_start_unpaused(report, dag_id):
    """Airflow pauses a new DAG unless told otherwise: its schedule would never fire and the
    README's trigger would leave the run queued."""
    assert report["dags"][dag_id]["is_paused_upon_creation"] is False


@pytest.mark.parametrize(
    ("case", "start", "end"),
    [
        ("tue", "2024-03-05", "2024-03-06"),
        ("fri", "2024-03-08", "2024-03-09"),
        # Monday after a weekend: only Monday (the exchanges have no weekend bars)
        ("mon", "2024-03-11", "2024-03-12"),
        ("new-year", "2024-12-31", "2025-01-01"),
        # `airflow dags test market_data 2024-03-05` and backfills by date
        ("midnight", "2024-03-05", "2024-03-06"),
    ],
)
def test_each_run_covers_exactly_its_trading_day(renders, case, start, end):
    for stage in PIPELINE:
        assert args_of(renders[case][stage]) == [stage, "--start", start, "--end", end]


def test_pods_run_the_stage_cli_in_the_stage_image(report, images):
    tasks = report["dags"]["market_data"]["tasks"]
    for stage in PIPELINE:
        assert tasks[stage]["cmds"] == ["/usr/bin/tini", "--", "medallion"]
        assert tasks[stage]["image"] == images[h.STAGE_IMAGE_KEYS[stage]]


def test_every_key_of_the_images_configmap_is_used(report, images):
    used = {t["image"] for d in report["dags"].values() for t in d["tasks"].values()}
    assert set(images.values()) <= used, "a key of ConfigMap medallion-images is unused"
    assert used <= set(images.values()), "a DAG runs an image not in medallion-images"


# --------------------------------------------------------------------------- overrides


def test_no_override_leaves_the_configmap_in_charge(renders):
    for stage in PIPELINE:
        assert env_of(renders["tue"][stage]) == {}


def test_the_watchlist_variable_overrides_the_configmap(renders):
    for stage in PIPELINE:
        assert env_of(renders["variable"][stage]) == {"WATCHLIST": "NVDA,7203.T"}


def test_run_params_override_variable_and_configmap(renders):
    for stage in PIPELINE:
        assert env_of(renders["params"][stage]) == {"WATCHLIST": "AAPL,MSFT", "BAR_INTERVAL": "1h"}


def test_params_are_validated(report):
    schema = report["dags"]["market_data"]["param_schema"]
    assert "" in schema["bar_interval"]["enum"] and "1d" in schema["bar_interval"]["enum"]
    assert schema["watchlist"]["type"] == "string"


# --------------------------------------------------------------------------- reliability, lineage


@pytest.mark.parametrize("dag_id", ["market_data", "medallion_maintenance"])
def test_pods_reattach_are_deleted_and_stream_logs(report, dag_id):
    for task_id, t in report["dags"][dag_id]["tasks"].items():
        assert "KubernetesPodOperator" in t["bases"], task_id
        assert t["durable"] is True and t["reattach_on_restart"] is True, task_id
        assert t["on_finish_action"] == "delete_pod", task_id
        assert t["get_logs"] is True, task_id
        assert t["do_xcom_push"] is False, task_id  # the Role grants no pods/exec


def test_assets_trace_bronze_silver_gold_postgres(report):
    t = report["dags"]["market_data"]["tasks"]
    bronze, silver, gold = f"{LAKE}/bronze", f"{LAKE}/silver/prices", f"{LAKE}/gold/daily"
    assert t["ingest"]["outlets"] == [bronze]
    assert (t["transform"]["inlets"], t["transform"]["outlets"]) == ([bronze], [silver])
    assert (t["aggregate"]["inlets"], t["aggregate"]["outlets"]) == ([silver], [gold])
    assert t["publish"]["inlets"] == [gold]
    assert t["publish"]["outlets"][0].startswith("postgres://")
    assert t["publish"]["outlets"][0].endswith("/analytics/public/gold_daily")


# --------------------------------------------------------------------------- maintenance


def test_maintenance_vacuums_with_at_least_seven_days(report, renders):
    dag = report["dags"]["medallion_maintenance"]
    assert dag["param_schema"]["retain_hours"]["minimum"] == 168
    assert dag["params"]["retain_hours"] == 168
    assert args_of(renders["maintain"]["maintain"]) == ["maintain", "--retain-hours", "168"]
    assert args_of(renders["maintain-longer"]["maintain"]) == ["maintain", "--retain-hours", "336"]


def test_maintenance_never_overlaps_the_pipeline_schedule(report):
    maint = report["dags"]["medallion_maintenance"]["schedule"]
    days = {r["logical_date"][:10] for r in report["dags"]["market_data"]["schedule"]}
    assert maint and all(r["logical_date"][:10] not in days for r in maint)


# --------------------------------------------------------------------------- pod vs manifests


@pytest.mark.parametrize(
    ("dag_id", "case"), [("market_data", "tue"), ("medallion_maintenance", "maintain")]
)
def test_pod_spec_matches_the_rendered_cluster(cluster, images, renders, dag_id, case):
    for task_id, task in renders[case].items():
        pod = task["pod"]
        assert pod["metadata"]["namespace"] == h.JOB_NAMESPACE
        spec = pod["spec"]
        assert spec["serviceAccountName"] == h.JOB_SERVICE_ACCOUNT
        refs = spec["containers"][0]["envFrom"]
        assert [r["configMapRef"]["name"] for r in refs if "configMapRef" in r] == [h.JOB_CONFIGMAP]
        assert [r["secretRef"]["name"] for r in refs if "secretRef" in r] == list(h.JOB_SECRETS)
        assert spec["securityContext"]["runAsUser"] == 10001
        assert h.pod_problems(pod, cluster, images, h.STAGE_IMAGE_KEYS[task_id]) == []


def test_the_job_environment_is_complete(cluster):
    cm = cluster.find("ConfigMap", h.JOB_NAMESPACE, h.JOB_CONFIGMAP)
    assert cm is not None
    assert {
        "LAKE_ROOT",
        "S3_ENDPOINT_URL",
        "AWS_REGION",
        "MARKET_SOURCE",
        "WATCHLIST",
        "BAR_INTERVAL",
        "SPARK_MASTER",
    } <= set(cm["data"])
    assert cluster.secrets_doc.get((h.JOB_NAMESPACE, "medallion-s3")) == {
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
    }
    assert cluster.secrets_doc.get((h.JOB_NAMESPACE, "medallion-analytics")) == {"ANALYTICS_DSN"}


def test_airflow_can_launch_and_follow_the_job_pods(cluster):
    assert h.launcher_problems(cluster) == []


def test_the_stage_clis_take_what_the_dags_pass():
    """The job package's CLIs accept the arguments the pods are given."""
    medallion = h.MEDALLION_BIN / "medallion"
    if not medallion.exists():
        pytest.fail("the medallion venv is missing: run `make venv`", pytrace=False)
    for stage, flags in [
        *((s, ("--start", "--end")) for s in PIPELINE),
        ("maintain", ("--retain-hours",)),
    ]:
        out = subprocess.run(
            [str(medallion), stage, "--help"], capture_output=True, text=True, timeout=60
        )
        assert out.returncode == 0, f"medallion {stage} --help: {out.stderr[-500:]}"
        for flag in flags:
            assert flag in out.stdout, f"medallion {stage} has no {flag}"
