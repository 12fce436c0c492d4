"""The cluster names the DAG and the job pods rely on (dags/medallion_dag_support.py) are rendered."""

from __future__ import annotations

import crosschecks as checks


def test_cluster_contract_names_are_rendered(stack):
    problems = checks.check_contract(stack)
    assert not problems, f"{len(problems)} problem(s):\n" + "\n".join(problems)
