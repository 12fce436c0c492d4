"""Wiring between rendered objects: Secret/ConfigMap/ServiceAccount/PVC references,
Service selectors and target ports, NodePorts against kind-config.yaml."""

from __future__ import annotations

import crosschecks as checks


def _assert_none(problems):
    assert not problems, f"{len(problems)} problem(s):\n" + "\n".join(problems)


def test_pod_references_exist_or_are_created_by_bootstrap(stack):
    _assert_none(checks.check_references(stack))


def test_downward_api_fields_exist_on_the_pod(stack):
    _assert_none(checks.check_downward_api(stack))


def test_services_select_pods_and_target_existing_ports(stack):
    assert stack.of_kind("Service"), "no Service in the kind stack"
    _assert_none(checks.check_services(stack))


def test_nodeports_match_kind_extra_port_mappings(stack):
    _assert_none(checks.check_nodeports(stack))
