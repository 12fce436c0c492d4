"""Argo CD: Applications, AppProjects, sync waves, namespace ownership, repo URL."""

from __future__ import annotations

import crosschecks as checks


def _assert_none(problems):
    assert not problems, f"{len(problems)} problem(s):\n" + "\n".join(problems)


def test_applications_point_at_paths_that_render_and_sync_automatically(stack):
    _assert_none(checks.check_applications(stack))


def test_app_projects_are_least_privilege(stack):
    _assert_none(checks.check_projects(stack))


def test_every_rendered_kind_is_permitted_by_its_app_project(stack):
    _assert_none(checks.check_project_permissions(stack))


def test_sync_waves_order_namespaces_storage_airflow_jobs_uis(stack):
    _assert_none(checks.check_sync_waves(stack))
    print(
        "\nsync waves: "
        + ", ".join(
            f"{a.name}={a.wave}" for a in sorted(stack.apps, key=lambda a: (a.wave or 0, a.name))
        )
    )


def test_each_namespace_has_exactly_one_owner(stack):
    _assert_none(checks.check_namespace_ownership(stack))


def test_repository_url_is_written_in_one_place(stack):
    _assert_none(checks.check_repo_url_single_place(stack))
