"""The DAG folder parses cleanly in Airflow 3.3, cheaply, with the settings every DAG needs."""

from __future__ import annotations

import dag_harness as h
import pytest

EXPECTED_DAGS = {"market_data", "medallion_maintenance"}


def test_dag_folder_parses_without_import_errors(report):
    assert report["import_errors"] == {}
    assert set(report["dags"]) == EXPECTED_DAGS
    # the support module is a library, not a DAG file (.airflowignore)
    assert "medallion_dag_support.py" not in report["files"]


def test_parsing_loads_no_job_code_or_spark(report):
    # The dag-processor parses every file every minute: no Spark, job package or
    # database/S3 clients at module level.
    assert report["heavy_modules"] == []


@pytest.mark.parametrize("dag_id", sorted(EXPECTED_DAGS))
def test_dag_has_owner_tags_docs_and_limits(report, dag_id):
    dag = report["dags"][dag_id]
    assert dag["tags"] and "medallion" in dag["tags"]
    assert dag["owner"] not in ("", "airflow")
    assert len(dag["doc_md"]) > 200
    assert dag["max_active_runs"] == 1, "one writer per Delta table"
    assert dag["catchup"] is False
    assert dag["dagrun_timeout"] and dag["dagrun_timeout"] > 0


@pytest.mark.parametrize("dag_id", sorted(EXPECTED_DAGS))
def test_every_task_retries_with_backoff_and_has_a_timeout(report, dag_id):
    for task_id, t in report["dags"][dag_id]["tasks"].items():
        assert t["owner"] not in ("", "airflow"), task_id
        assert t["retries"] >= 1, task_id
        assert t["retry_exponential_backoff"] > 1, task_id
        assert 0 < t["retry_delay"] <= t["max_retry_delay"], task_id
        assert t["execution_timeout"] and t["execution_timeout"] > 0, task_id
        # the run-level timeout leaves room for the task's own timeout
        assert t["execution_timeout"] < report["dags"][dag_id]["dagrun_timeout"], task_id


def test_a_missing_image_variable_is_a_clear_import_error(images, tmp_path):
    without = {k: v for k, v in images.items() if k != "TRANSFORMER_IMAGE"}
    report = h.dag_report(without, [], tmp_path)
    errors = "\n".join(report["import_errors"].values())
    assert "market_data.py" in "".join(report["import_errors"])
    assert "TRANSFORMER_IMAGE is not set" in errors
    assert "medallion-images" in errors


def test_dags_never_read_the_wall_clock():
    # A run's day comes from its logical date; now() would break backfills and reruns.
    for f in sorted((h.REPO_ROOT / "dags").glob("*.py")):
        text = f.read_text()
        for forbidden in ("now()", "utcnow", "today()", "date.today", "time.time("):
            assert forbidden not in text, f"{f.name} uses {forbidden}"
