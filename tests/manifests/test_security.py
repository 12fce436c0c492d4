"""This project's image rules (checkov grades the Pod Security fields and the usual image
pinning: test_checkov.py); namespaces with Pod Security admission labels and default-deny
NetworkPolicies; Argo CD's pods that call the API keep their token."""

from __future__ import annotations

import crosschecks as checks
from kindstack import kind_config


def _assert_none(problems):
    assert not problems, f"{len(problems)} problem(s):\n" + "\n".join(problems)


def test_images_are_pinned_in_every_render(renders):
    _assert_none(checks.check_images((n, o) for n, r in renders.items() if r.ok for o in r.objects))


def test_kind_node_image_is_pinned_by_digest(root):
    problems = []
    for i, n in enumerate(kind_config(root).get("nodes") or []):
        img = n.get("image", "")
        if not img.startswith("kindest/node:v1.36.") or not checks.DIGEST.search(img):
            problems.append(
                f"kind-config.yaml nodes[{i}]: image {img!r} is not kindest/node:v1.36.x@sha256:..."
            )
    _assert_none(problems)


def test_image_check_rejects_bad_images():
    """Guards the guard."""
    digest = "@sha256:" + "a" * 64
    assert checks.image_problems("quay.io/minio/minio:RELEASE.2025-09-07T16-13-09Z" + digest) == []
    assert checks.image_problems("minio/minio:RELEASE.2025-09-07T16-13-09Z" + digest)
    assert checks.image_problems("docker.io/bitnami/postgresql:17" + digest)
    assert checks.image_problems("postgres" + digest)
    own = "ghcr.io/data-stack-k8s/data-stack-k8s/ingestor"
    assert checks.configured_image_problems(own + ":0.1.0") == []
    assert checks.configured_image_problems(own + ":latest")
    assert checks.configured_image_problems("postgres:17.6")
    assert checks.configured_image_problems("postgres")


def test_namespaces_have_pod_security_labels_and_default_deny(stack):
    assert stack.namespaces(), "no Namespace in the kind stack"
    _assert_none(checks.check_namespaces(stack))


def test_pods_that_call_the_api_keep_their_token(stack):
    problems = checks.check_api_token_where_needed(stack.objects)
    assert not problems, "\n".join(problems)
