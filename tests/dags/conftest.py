"""Fixtures for the DAG tests (marker `dags`, added by tests/conftest.py).

Airflow runs in its own venv (.venv-airflow, tools/airflow-env.sh); the manifests are
rendered with the repository's kustomize (tools/manifest-tools.sh). Either missing is
a test error that says how to get it, never a skip.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import dag_harness as h  # noqa: E402

# Render cases: the logical dates and overrides the structure tests look at.
CASES = [
    {"id": "tue", "dag_id": "market_data", "logical_date": "2024-03-05T22:30:00+00:00"},
    {"id": "mon", "dag_id": "market_data", "logical_date": "2024-03-11T22:30:00+00:00"},
    {"id": "fri", "dag_id": "market_data", "logical_date": "2024-03-08T22:30:00+00:00"},
    {"id": "new-year", "dag_id": "market_data", "logical_date": "2024-12-31T22:30:00+00:00"},
    # `airflow dags test market_data 2024-03-05` / a backfill by date: midnight
    {"id": "midnight", "dag_id": "market_data", "logical_date": "2024-03-05T00:00:00+00:00"},
    {
        "id": "variable",
        "dag_id": "market_data",
        "logical_date": "2024-03-05T22:30:00+00:00",
        "variables": {"medallion_watchlist": "NVDA,7203.T"},
    },
    {
        "id": "params",
        "dag_id": "market_data",
        "logical_date": "2024-03-05T22:30:00+00:00",
        "params": {"watchlist": "AAPL,MSFT", "bar_interval": "1h"},
        "variables": {"medallion_watchlist": "NVDA"},
    },
    {
        "id": "maintain",
        "dag_id": "medallion_maintenance",
        "logical_date": "2024-03-10T03:00:00+00:00",
    },
    {
        "id": "maintain-longer",
        "dag_id": "medallion_maintenance",
        "logical_date": "2024-03-10T03:00:00+00:00",
        "params": {"retain_hours": 336},
    },
]


def _fail(exc: Exception):
    pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def cluster() -> h.Cluster:
    try:
        return h.render_cluster()
    except h.HarnessError as exc:
        _fail(exc)


@pytest.fixture(scope="session")
def images(cluster) -> dict[str, str]:
    try:
        return h.images_env(cluster)
    except h.HarnessError as exc:
        _fail(exc)


@pytest.fixture(scope="session")
def report(images, tmp_path_factory) -> dict:
    """The DAG folder as Airflow parses it, with the images the cluster would give it."""
    try:
        return h.dag_report(images, CASES, tmp_path_factory.mktemp("dag-report"))
    except h.HarnessError as exc:
        _fail(exc)


@pytest.fixture(scope="session")
def renders(report) -> dict[str, dict]:
    return {r["id"]: r["tasks"] for r in report["renders"]}
