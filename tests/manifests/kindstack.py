"""The kind cluster as Argo CD would build it: Applications found from the
bootstrap/ root (or clusters/kind), each Application's path rendered, objects indexed."""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from pathlib import Path

import yaml
from render import Rendered, key, manifest_root, rel

SYNC_WAVE = "argocd.argoproj.io/sync-wave"


@dataclasses.dataclass
class Source:
    repo_url: str
    path: str | None
    target_revision: str | None
    chart: str | None


@dataclasses.dataclass
class App:
    obj: dict
    found_in: str  # rendered folder the Application came from

    @property
    def name(self) -> str:
        return self.obj["metadata"]["name"]

    @property
    def spec(self) -> dict:
        return self.obj.get("spec") or {}

    @property
    def sources(self) -> list[Source]:
        srcs = self.spec.get("sources") or (
            [self.spec["source"]] if self.spec.get("source") else []
        )
        return [
            Source(s.get("repoURL", ""), s.get("path"), s.get("targetRevision"), s.get("chart"))
            for s in srcs
        ]

    @property
    def dest_ns(self) -> str | None:
        return (self.spec.get("destination") or {}).get("namespace")

    @property
    def project(self) -> str | None:
        return self.spec.get("project")

    @property
    def wave(self) -> int | None:
        v = ((self.obj.get("metadata") or {}).get("annotations") or {}).get(SYNC_WAVE)
        try:
            return int(v)
        except (TypeError, ValueError):
            return None

    @property
    def sync_options(self) -> list[str]:
        return (self.spec.get("syncPolicy") or {}).get("syncOptions") or []

    def paths(self) -> list[str]:
        return [
            s.path.strip("/").removeprefix("./") or "." for s in self.sources if s.path is not None
        ]


@dataclasses.dataclass
class Stack:
    root: Path
    renders: dict[str, Rendered]
    apps: list[App]
    # key -> list of (source folder, object); one object may come from several folders
    by_key: dict[str, list[tuple[str, dict]]]
    app_objects: dict[str, list[dict]]  # app name -> objects of its path(s)

    @property
    def objects(self) -> list[tuple[str, dict]]:
        return [v[0] for v in self.by_key.values()]

    def of_kind(self, *kinds: str) -> list[tuple[str, dict]]:
        return [(s, o) for s, o in self.objects if o.get("kind") in kinds]

    def namespaces(self) -> list[dict]:
        return [o for _, o in self.of_kind("Namespace")]


def loose_argo_objects(root: Path) -> list[tuple[str, dict]]:
    """Applications/AppProjects in clusters/kind and bootstrap/ files that no kustomization
    includes: the templates bootstrap/ applies by hand (the root Application and its project)."""
    included = set()
    for top in ("clusters", "bootstrap"):
        for kf in (root / top).rglob("kustomization.yaml") if (root / top).is_dir() else []:
            for r in (yaml.safe_load(kf.read_text()) or {}).get("resources") or []:
                if isinstance(r, str):
                    included.add((kf.parent / r).resolve())
    out = []
    for top in ("clusters/kind", "bootstrap"):
        d = root / top
        for f in sorted(d.rglob("*.y*ml")) if d.is_dir() else []:
            if f.resolve() in included or f.name.startswith("kustomization"):
                continue
            try:
                docs = list(yaml.safe_load_all(f.read_text()))
            except yaml.YAMLError:
                continue
            for o in docs:
                if (
                    isinstance(o, dict)
                    and o.get("kind") in ("Application", "AppProject")
                    and str(o.get("apiVersion", "")).startswith("argoproj.io/")
                ):
                    out.append((rel(f, root), o))
    return out


def build_stack(renders: dict[str, Rendered], root: Path | None = None) -> Stack:
    root = root or manifest_root()
    start = sorted(r for r in renders if r.startswith(("bootstrap", "clusters/kind")))
    seen_dirs: list[str] = []
    apps: dict[str, App] = {}
    loose = loose_argo_objects(root)
    for f, o in loose:
        if o["kind"] == "Application":
            apps[o["metadata"]["name"]] = App(o, f)
    queue = [p for a in apps.values() for p in a.paths()] + start
    while queue:
        d = queue.pop(0)
        if d in seen_dirs or d not in renders or not renders[d].ok:
            continue
        seen_dirs.append(d)
        for o in renders[d].objects:
            if o.get("kind") == "Application" and str(o.get("apiVersion", "")).startswith(
                "argoproj.io/"
            ):
                app = App(o, d)
                apps.setdefault(app.name, app)
                queue.extend(app.paths())
    by_key: dict[str, list[tuple[str, dict]]] = defaultdict(list)
    for f, o in loose:
        by_key[key(o)].append((f, o))
    for d in seen_dirs:
        for o in renders[d].objects:
            by_key[key(o)].append((d, o))
    app_objects = {}
    for a in apps.values():
        app_objects[a.name] = [
            o for p in a.paths() if p in renders and renders[p].ok for o in renders[p].objects
        ]
    return Stack(root, renders, list(apps.values()), dict(by_key), app_objects)


# --------------------------------------------------------------------------- documented secrets


def documented_secrets(
    root: Path | None = None,
) -> tuple[dict[tuple[str, str], set[str] | None], str]:
    """(namespace, name) -> keys (None if the file names no keys) from bootstrap/secrets.yaml.

    Accepts any YAML in which entries are mappings with `name` and `namespace`
    (and optionally `keys`: strings or mappings with a `name`)."""
    root = root or manifest_root()
    f = root / "bootstrap" / "secrets.yaml"
    if not f.exists():
        return {}, f"{rel(f, root)} does not exist"
    out: dict[tuple[str, str], set[str] | None] = {}

    def walk(node):
        if isinstance(node, dict):
            if isinstance(node.get("name"), str) and isinstance(node.get("namespace"), str):
                ks = node.get("keys")
                if isinstance(ks, dict):
                    ks = list(ks)
                keys = (
                    None if ks is None else {k if isinstance(k, str) else k.get("name") for k in ks}
                )
                out[(node["namespace"], node["name"])] = keys
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    for doc in yaml.safe_load_all(f.read_text()):
        walk(doc)
    return out, ""


def kind_config(root: Path | None = None) -> dict:
    root = root or manifest_root()
    return yaml.safe_load((root / "kind-config.yaml").read_text()) or {}


def render_stack_only(root: Path) -> Stack:
    """Render just what the kind stack needs (bootstrap/, clusters/kind, the Applications'
    paths), for the mutation tests that build many trees."""
    from render import find_kustomizations, render_dir

    ks = {k.rel: k for k in find_kustomizations(root) if k.kind != "Component"}
    renders: dict[str, Rendered] = {}
    queue = [
        p
        for f, o in loose_argo_objects(root)
        if o["kind"] == "Application"
        for p in App(o, f).paths()
    ]
    queue += sorted(n for n in ks if n.startswith(("bootstrap", "clusters/kind")))
    while queue:
        n = queue.pop(0)
        if n in renders or n not in ks:
            continue
        renders[n] = r = render_dir(ks[n].dir)
        for o in r.objects:
            if o.get("kind") == "Application":
                queue.extend(App(o, n).paths())
    return build_stack(renders, root)
