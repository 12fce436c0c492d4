"""Helpers for the DAG tests: the Airflow venv, the rendered cluster, the DAG report.

The test process runs in the medallion venv (.venv); Airflow lives in its own venv
(.venv-airflow, tools/airflow-env.sh) because their pins clash. Everything that needs
Airflow runs there through a subprocess (tests/dags/airflow_side/*.py).

The manifests are rendered the way Argo CD builds the kind cluster: the Applications
in clusters/kind name the paths (overlays/kind/...), kustomize 5.8.3 renders them.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
AIRFLOW_SIDE = HERE / "airflow_side"
AIRFLOW_VENV = Path(os.environ.get("AIRFLOW_VENV") or REPO_ROOT / ".venv-airflow")
AIRFLOW_PYTHON = AIRFLOW_VENV / "bin" / "python"
MEDALLION_BIN = Path(os.environ.get("MEDALLION_VENV") or REPO_ROOT / ".venv") / "bin"

# tests/manifests/render.py: kustomize 5.8.3 from .cache/bin, cached builds, tree copies
sys.path.insert(0, str(REPO_ROOT / "tests" / "manifests"))
from render import KUSTOMIZE, manifest_root, render_dir  # noqa: E402

# The names the DAGs use (dags/medallion_dag_support.py), repeated here on purpose:
# a rename on one side only must fail a test.
JOB_NAMESPACE = "medallion"
JOB_CONFIGMAP = "medallion-config"
JOB_SECRETS = ("medallion-s3", "medallion-analytics")
JOB_SERVICE_ACCOUNT = "medallion-job"
IMAGES_CONFIGMAP = "medallion-images"
AIRFLOW_NAMESPACE = "airflow"
STAGE_IMAGE_KEYS = {
    "ingest": "INGESTOR_IMAGE",
    "transform": "TRANSFORMER_IMAGE",
    "aggregate": "AGGREGATOR_IMAGE",
    "publish": "AGGREGATOR_IMAGE",
    "maintain": "AGGREGATOR_IMAGE",
}


class HarnessError(RuntimeError):
    pass


def require_airflow() -> Path:
    if not AIRFLOW_PYTHON.exists():
        raise HarnessError(
            f"{AIRFLOW_PYTHON.relative_to(REPO_ROOT)} is missing: run tools/airflow-env.sh "
            "(installs the pinned Airflow 3.3 used by the DAG tests)"
        )
    return AIRFLOW_PYTHON


def require_kustomize() -> Path:
    if not KUSTOMIZE.exists():
        raise HarnessError(
            "kustomize is missing: run tools/manifest-tools.sh (make manifest-tools)"
        )
    return KUSTOMIZE


def airflow_env(home: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for an Airflow process with a throwaway AIRFLOW_HOME."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AIRFLOW", "PYTEST", "VIRTUAL_ENV"))
        and k not in ("INGESTOR_IMAGE", "TRANSFORMER_IMAGE", "AGGREGATOR_IMAGE")
    }
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
    )
    env.update(extra or {})
    return env


# --------------------------------------------------------------------------- rendered cluster


@dataclasses.dataclass(frozen=True)
class App:
    """An Argo CD Application: where it deploys and which repository paths it renders."""

    name: str
    dest_ns: str | None
    paths: tuple[str, ...]

    @classmethod
    def of(cls, obj: dict) -> App:
        spec = obj.get("spec") or {}
        sources = spec.get("sources") or ([spec["source"]] if spec.get("source") else [])
        paths = tuple(
            str(s["path"]).strip("/").removeprefix("./") or "." for s in sources if s.get("path")
        )
        dest = (spec.get("destination") or {}).get("namespace")
        return cls(obj["metadata"]["name"], dest, paths)


def documented_secrets(root: Path) -> dict[tuple[str, str], set[str] | None]:
    """(namespace, name) -> keys of the Secrets bootstrap/ creates (bootstrap/secrets.yaml)."""
    f = root / "bootstrap" / "secrets.yaml"
    if not f.exists():
        return {}
    doc = yaml.safe_load(f.read_text()) or {}
    out: dict[tuple[str, str], set[str] | None] = {}
    for entry in doc.get("secrets") or []:
        keys = entry.get("keys")
        out[(entry["namespace"], entry["name"])] = None if keys is None else set(keys)
    return out


@dataclasses.dataclass
class Cluster:
    """What Argo CD would deploy for the namespaces the DAGs touch."""

    root: Path
    apps: dict[str, App]  # destination namespace -> Application
    objects: dict[str, list[dict]]  # destination namespace -> rendered objects
    namespaces: list[dict]  # Namespace objects rendered by any Application
    secrets_doc: dict[tuple[str, str], set[str] | None]

    def find(self, kind: str, namespace: str, name: str) -> dict | None:
        for o in self.objects.get(namespace, []):
            md = o.get("metadata") or {}
            if (
                o.get("kind") == kind
                and md.get("name") == name
                and (md.get("namespace") in (None, namespace))
            ):
                return o
        return None

    def of_kind(self, namespace: str, kind: str) -> list[dict]:
        return [o for o in self.objects.get(namespace, []) if o.get("kind") == kind]

    def namespace(self, name: str) -> dict | None:
        return next((n for n in self.namespaces if n["metadata"]["name"] == name), None)


def render_cluster(root: Path | None = None) -> Cluster:
    """Render clusters/kind, then the Applications' paths (not Argo CD itself)."""
    require_kustomize()
    root = (root or manifest_root()).resolve()
    top = render_dir(root / "clusters" / "kind")
    if not top.ok:
        raise HarnessError(f"clusters/kind does not render: {top.error}")
    apps = [App.of(o) for o in top.objects if o.get("kind") == "Application"]
    by_ns: dict[str, App] = {}
    objects: dict[str, list[dict]] = {}
    namespaces: list[dict] = []
    for app in apps:
        if app.dest_ns == "argocd" and not any("namespaces" in p for p in app.paths):
            continue  # Argo CD itself: large, and not what the DAGs use
        rendered = []
        for p in app.paths:
            r = render_dir(root / p)
            if not r.ok:
                raise HarnessError(f"{p} (Application {app.name}) does not render: {r.error}")
            rendered.extend(r.objects)
        namespaces.extend(o for o in rendered if o.get("kind") == "Namespace")
        if app.dest_ns:
            by_ns.setdefault(app.dest_ns, app)
            objects.setdefault(app.dest_ns, []).extend(rendered)
    # objects that set their own namespace (e.g. the Role in ns medallion rendered by the
    # airflow Application) belong to that namespace
    regrouped: dict[str, list[dict]] = {}
    for ns, objs in objects.items():
        for o in objs:
            regrouped.setdefault((o.get("metadata") or {}).get("namespace") or ns, []).append(o)
    return Cluster(root, by_ns, regrouped, namespaces, documented_secrets(root))


def images_env(cluster: Cluster) -> dict[str, str]:
    cm = cluster.find("ConfigMap", AIRFLOW_NAMESPACE, IMAGES_CONFIGMAP)
    if cm is None:
        raise HarnessError(
            f"ConfigMap {IMAGES_CONFIGMAP} is not rendered in namespace {AIRFLOW_NAMESPACE} "
            "by the kind cluster's Applications"
        )
    return dict(cm.get("data") or {})


# --------------------------------------------------------------------------- DAG report


def dag_report(env_extra: dict[str, str], cases: list[dict], tmp: Path) -> dict:
    """Parse dags/ with Airflow (subprocess) and return the report as a dict."""
    python = require_airflow()
    out = tmp / "dag-report.json"
    home = tmp / "airflow-home"
    home.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        [
            str(python),
            str(AIRFLOW_SIDE / "dag_report.py"),
            str(REPO_ROOT / "dags"),
            json.dumps(cases),
            str(out),
        ],
        env=airflow_env(home, env_extra),
        capture_output=True,
        text=True,
        timeout=300,
    )
    if proc.returncode != 0 or not out.exists():
        raise HarnessError(f"dag_report failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    return json.loads(out.read_text())


# --------------------------------------------------------------------------- cross-checks


def pod_problems(pod: dict, cluster: Cluster, images: dict[str, str], image_key: str) -> list[str]:
    """What would stop this pod from starting, or weaken it, in the rendered cluster."""
    problems: list[str] = []
    md, spec = pod.get("metadata") or {}, pod.get("spec") or {}
    ns = md.get("namespace")
    if cluster.namespace(ns) is None:
        problems.append(f"namespace {ns!r} is not rendered by any Application")
    if ns not in cluster.apps:
        problems.append(f"no Application deploys to namespace {ns!r}")
    sa_name = spec.get("serviceAccountName")
    sa = cluster.find("ServiceAccount", ns, sa_name)
    if sa is None:
        problems.append(f"ServiceAccount {ns}/{sa_name} is not rendered")
    # The pod's own setting wins; unset, the ServiceAccount's applies.
    token = spec.get("automountServiceAccountToken")
    if token is None and sa is not None:
        token = sa.get("automountServiceAccountToken")
    if token is not False:
        problems.append(
            f"pod mounts a service account token (neither the pod nor ServiceAccount {ns}/{sa_name} "
            "disables token automount)"
        )

    containers = spec.get("containers") or []
    if len(containers) != 1:
        problems.append(f"expected one container, found {len(containers)}")
    for c in containers:
        for src in c.get("envFrom") or []:
            if "configMapRef" in src:
                name = src["configMapRef"]["name"]
                if cluster.find("ConfigMap", ns, name) is None:
                    problems.append(f"ConfigMap {ns}/{name} (envFrom) is not rendered")
            elif "secretRef" in src:
                name = src["secretRef"]["name"]
                if (
                    cluster.find("Secret", ns, name) is None
                    and (ns, name) not in cluster.secrets_doc
                ):
                    problems.append(
                        f"Secret {ns}/{name} (envFrom) is neither rendered nor listed in "
                        "bootstrap/secrets.yaml"
                    )
        if image_key not in images:
            problems.append(f"ConfigMap {IMAGES_CONFIGMAP} has no key {image_key}")
        elif c.get("image") != images[image_key]:
            problems.append(f"image {c.get('image')!r} != {IMAGES_CONFIGMAP}.{image_key}")
        problems += _restricted(c, spec)
        problems += _resources(c, cluster, ns)
    return problems


def _restricted(c: dict, spec: dict) -> list[str]:
    p: list[str] = []
    psc, csc = spec.get("securityContext") or {}, c.get("securityContext") or {}
    if not (psc.get("runAsNonRoot") or csc.get("runAsNonRoot")):
        p.append("runAsNonRoot is not set")
    if (csc.get("runAsUser") or psc.get("runAsUser")) in (None, 0):
        p.append("runAsUser is root or unset")
    if csc.get("allowPrivilegeEscalation") is not False:
        p.append("allowPrivilegeEscalation is not false")
    if "ALL" not in ((csc.get("capabilities") or {}).get("drop") or []):
        p.append("capabilities do not drop ALL")
    seccomp = (csc.get("seccompProfile") or psc.get("seccompProfile") or {}).get("type")
    if seccomp not in ("RuntimeDefault", "Localhost"):
        p.append("seccompProfile is not RuntimeDefault")
    if csc.get("readOnlyRootFilesystem") is not True:
        p.append("readOnlyRootFilesystem is not true")
    mounts = {m["mountPath"]: m["name"] for m in c.get("volumeMounts") or []}
    vols = {v["name"]: v for v in spec.get("volumes") or []}
    if "emptyDir" not in vols.get(mounts.get("/tmp", ""), {}):
        p.append("/tmp is not an emptyDir (read-only root filesystem)")
    for v in vols.values():
        if set(v) - {
            "name",
            "emptyDir",
            "configMap",
            "secret",
            "projected",
            "downwardAPI",
            "persistentVolumeClaim",
            "ephemeral",
            "csi",
        }:
            p.append(f"volume {v['name']} has a type the restricted profile forbids")
    if spec.get("hostNetwork") or spec.get("hostPID") or spec.get("hostIPC"):
        p.append("host namespaces are used")
    return p


_UNITS = {
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "k": 1e3,
    "M": 1e6,
    "G": 1e9,
    "m": 1e-3,
}


def quantity(q) -> float:
    s = str(q)
    for suffix in sorted(_UNITS, key=len, reverse=True):
        if s.endswith(suffix):
            return float(s[: -len(suffix)]) * _UNITS[suffix]
    return float(s)


def _resources(c: dict, cluster: Cluster, ns: str) -> list[str]:
    p: list[str] = []
    res = c.get("resources") or {}
    for kind in ("requests", "limits"):
        for r in ("cpu", "memory"):
            if r not in (res.get(kind) or {}):
                p.append(f"container has no {kind}.{r}")
    if p:
        return p
    for lr in cluster.of_kind(ns, "LimitRange"):
        for limit in lr["spec"].get("limits") or []:
            if limit.get("type") != "Container":
                continue
            for r, mx in (limit.get("max") or {}).items():
                if r in res["limits"] and quantity(res["limits"][r]) > quantity(mx):
                    p.append(f"limits.{r}={res['limits'][r]} exceeds LimitRange max {mx}")
    for rq in cluster.of_kind(ns, "ResourceQuota"):
        hard = rq["spec"].get("hard") or {}
        for kind in ("requests", "limits"):
            for r in ("cpu", "memory"):
                cap = hard.get(f"{kind}.{r}")
                if cap is not None and quantity(res[kind][r]) > quantity(cap):
                    p.append(f"{kind}.{r} alone exceeds ResourceQuota {cap}")
    return p


def launcher_problems(cluster: Cluster) -> list[str]:
    """Can the Airflow component that runs tasks (scheduler) launch and follow job pods?"""
    p: list[str] = []
    deployments = cluster.of_kind(AIRFLOW_NAMESPACE, "Deployment")
    if not deployments:
        return [f"no Deployment rendered in namespace {AIRFLOW_NAMESPACE}"]
    for d in deployments:
        name = d["metadata"]["name"]
        if not any(w in name for w in ("scheduler", "dag-processor")):
            continue
        containers = d["spec"]["template"]["spec"].get("containers") or []
        refs = {
            src["configMapRef"]["name"]
            for c in containers
            for src in c.get("envFrom") or []
            if "configMapRef" in src
        }
        if IMAGES_CONFIGMAP not in refs:
            p.append(f"Deployment {name} does not load ConfigMap {IMAGES_CONFIGMAP} (envFrom)")
    sched = next((d for d in deployments if "scheduler" in d["metadata"]["name"]), None)
    if sched is None:
        return p + ["no scheduler Deployment rendered"]
    sa = sched["spec"]["template"]["spec"].get("serviceAccountName", "default")
    verbs: dict[str, set[str]] = {}
    roles = {r["metadata"]["name"]: r for r in cluster.of_kind(JOB_NAMESPACE, "Role")}
    for rb in cluster.of_kind(JOB_NAMESPACE, "RoleBinding"):
        if not any(
            s.get("kind") == "ServiceAccount"
            and s.get("name") == sa
            and s.get("namespace") == AIRFLOW_NAMESPACE
            for s in rb.get("subjects") or []
        ):
            continue
        role = roles.get(rb["roleRef"]["name"])
        for rule in (role or {}).get("rules") or []:
            for res in rule.get("resources") or []:
                verbs.setdefault(res, set()).update(rule.get("verbs") or [])
    need = {"pods": {"create", "get", "list", "watch", "delete", "patch"}, "pods/log": {"get"}}
    for res, vs in need.items():
        missing = vs - verbs.get(res, set())
        if missing:
            p.append(
                f"ServiceAccount {AIRFLOW_NAMESPACE}/{sa} may not {sorted(missing)} {res} "
                f"in namespace {JOB_NAMESPACE}"
            )
    return p
