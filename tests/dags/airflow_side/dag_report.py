"""Parse the DAG folder with Airflow and print what the tests check, as JSON.

Runs with the Airflow venv's python (.venv-airflow), never in the test process:
Airflow's pins clash with the job lock. Usage:

    python dag_report.py DAGS_FOLDER CASES_JSON OUT_JSON

CASES_JSON is a list of render cases: {"dag_id", "logical_date" (ISO), "params"
(overrides of the DAG's defaults), "variables" ({name: value})}. For each case every
task's templates are rendered with that context and, for pod tasks, the pod that
would be submitted is built (dry run: no cluster, no kube config).
"""

from __future__ import annotations

import copy
import json
import sys
from datetime import timedelta
from pathlib import Path

HEAVY = ("pyspark", "py4j", "delta", "medallion", "pandas", "psycopg", "boto3", "curl_cffi")


def _td(value) -> float | None:
    return value.total_seconds() if isinstance(value, timedelta) else value


def _uri(asset) -> str:
    return getattr(asset, "uri", str(asset))


def _schedule(dag, count: int = 8, earliest: str = "2024-03-07T00:00:00+00:00") -> list[dict]:
    """The first `count` scheduled runs from `earliest`, as the scheduler computes them."""
    from airflow.sdk import timezone
    from airflow.serialization.encoders import coerce_to_core_timetable
    from airflow.timetables.base import TimeRestriction

    timetable = coerce_to_core_timetable(dag.timetable)
    restriction = TimeRestriction(earliest=timezone.parse(earliest), latest=None, catchup=True)
    runs, last = [], None
    for _ in range(count):
        info = timetable.next_dagrun_info(
            last_automated_data_interval=last, restriction=restriction
        )
        if info is None:
            break
        runs.append(
            {
                "logical_date": info.logical_date.isoformat(),
                "run_after": info.run_after.isoformat(),
                "data_interval": [
                    info.data_interval.start.isoformat(),
                    info.data_interval.end.isoformat(),
                ],
            }
        )
        last = info.data_interval
    return runs


def _render(dag, case: dict) -> dict:
    from airflow.sdk import timezone
    from airflow.sdk.execution_time import macros
    from kubernetes.client import ApiClient

    logical_date = timezone.parse(case["logical_date"])
    params = {k: v for k, v in dag.params.dump().items()}
    params.update(case.get("params") or {})

    class _TI:
        dag_id = dag.dag_id
        map_index = -1
        try_number = 1

    out = {}
    api = ApiClient()
    for original in dag.tasks:
        task = copy.deepcopy(original)
        ti = _TI()
        ti.task_id = task.task_id
        context = {
            "dag": dag,
            "task": task,
            "ti": ti,
            "run_id": f"manual__{case['logical_date']}",
            "logical_date": logical_date,
            # CronTriggerTimetable: the interval is a point in time.
            "data_interval_start": logical_date,
            "data_interval_end": logical_date,
            "ds": logical_date.strftime("%Y-%m-%d"),
            "params": params,
            "macros": macros,
            "var": {"value": dict(case.get("variables") or {}), "json": {}},
        }
        task.render_template_fields(context)
        entry = {"arguments": getattr(task, "arguments", None)}
        if hasattr(task, "build_pod_request_obj"):
            pod = task.build_pod_request_obj(context, dry_run=True)
            entry["pod"] = api.sanitize_for_serialization(pod)
        out[task.task_id] = entry
    return out


def main(dags_folder: str, cases_json: str, out_json: str) -> int:
    before = set(sys.modules)
    from airflow.dag_processing.dagbag import BundleDagBag

    folder = Path(dags_folder).resolve()
    bag = BundleDagBag(dag_folder=str(folder), bundle_path=folder, bundle_name="dags-folder")
    loaded_by_dags = sorted(m for m in set(sys.modules) - before if m.split(".")[0] in HEAVY)
    report: dict = {
        "import_errors": {str(k): str(v) for k, v in bag.import_errors.items()},
        "heavy_modules": loaded_by_dags,
        "files": sorted(str(Path(f).name) for f in bag.file_last_changed),
        "dags": {},
        "renders": [],
    }
    for dag_id, dag in sorted(bag.dags.items()):
        tasks = {}
        for task in dag.tasks:
            tasks[task.task_id] = {
                "operator": type(task).__name__,
                "bases": [c.__name__ for c in type(task).__mro__],
                "owner": task.owner,
                "retries": task.retries,
                "retry_delay": _td(task.retry_delay),
                "retry_exponential_backoff": task.retry_exponential_backoff,
                "max_retry_delay": _td(task.max_retry_delay),
                "execution_timeout": _td(task.execution_timeout),
                "upstream": sorted(task.upstream_task_ids),
                "downstream": sorted(task.downstream_task_ids),
                "inlets": [_uri(a) for a in task.inlets],
                "outlets": [_uri(a) for a in task.outlets],
                "image": getattr(task, "image", None),
                "cmds": getattr(task, "cmds", None),
                "arguments_template": getattr(task, "arguments", None),
                "durable": getattr(task, "durable", None),
                "reattach_on_restart": getattr(task, "reattach_on_restart", None),
                "on_finish_action": str(
                    getattr(getattr(task, "on_finish_action", None), "value", "")
                ),
                "get_logs": getattr(task, "get_logs", None),
                "do_xcom_push": getattr(task, "do_xcom_push", None),
                "pool": task.pool,
            }
        report["dags"][dag_id] = {
            "tags": sorted(dag.tags),
            "owner": dag.owner,
            "catchup": dag.catchup,
            "is_paused_upon_creation": dag.is_paused_upon_creation,
            "max_active_runs": dag.max_active_runs,
            "dagrun_timeout": _td(dag.dagrun_timeout),
            "doc_md": dag.doc_md or "",
            "timetable": repr(dag.timetable),
            "start_date": dag.start_date.isoformat() if dag.start_date else None,
            "params": {k: v for k, v in dag.params.dump().items()},
            "param_schema": {k: dag.params.get_param(k).schema for k in dag.params},
            "tasks": tasks,
            "topological": [t.task_id for t in dag.topological_sort()]
            if hasattr(dag, "topological_sort")
            else None,
            "schedule": _schedule(dag),
        }
    for case in json.loads(cases_json):
        dag = bag.dags.get(case["dag_id"])
        if dag is not None:
            report["renders"].append({**case, "tasks": _render(dag, case)})
    Path(out_json).write_text(json.dumps(report, default=str))  # Airflow logs to stdout
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
