"""Render the repository's kustomizations offline and index what comes out.

Paths:
- REPO_ROOT is this checkout (the tools live in its .cache/ and .venv-checkov/).
- manifest_root() is the tree under test: $MANIFEST_ROOT if set (a copy used by
  the mutation tests), otherwise REPO_ROOT.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
TOOLS_SCRIPT = REPO_ROOT / "tools" / "manifest-tools.sh"
BIN = REPO_ROOT / ".cache" / "bin"
KUSTOMIZE = BIN / "kustomize"
KUBECONFORM = BIN / "kubeconform"
CHECKOV_VENV = REPO_ROOT / ".venv-checkov"

# Folders never searched for manifests or YAML.
PRUNE_DIRS = {
    ".git",
    ".cache",
    ".venv",
    "node_modules",
    "__pycache__",
    ".pytest_cache",
    ".ruff_cache",
    ".hypothesis",
    ".lakehouse",
    ".local",
    "reports",
}


def manifest_root() -> Path:
    return Path(os.environ.get("MANIFEST_ROOT") or REPO_ROOT).resolve()


@functools.cache
def pinned_versions() -> dict[str, str]:
    """The pins, read from tools/manifest-tools.sh (the one place they are written)."""
    text = TOOLS_SCRIPT.read_text()
    return dict(re.findall(r"^([A-Z0-9_]+_VERSION)=([0-9][0-9.]*)", text, flags=re.M))


def schema_dir() -> Path:
    v = pinned_versions()["K8S_SCHEMA_VERSION"]
    return REPO_ROOT / ".cache" / "k8s-schemas" / f"v{v}-standalone-strict"


def missing_tools() -> list[str]:
    need = [
        KUSTOMIZE,
        KUBECONFORM,
        schema_dir() / ".source",
        CHECKOV_VENV / "bin" / "checkov",
        argocd_cache(argocd_version()) / ".sha256",
    ]
    return [str(p.relative_to(REPO_ROOT)) for p in need if not p.exists()]


def rel(path: Path, root: Path | None = None) -> str:
    root = root or manifest_root()
    try:
        return str(Path(path).resolve().relative_to(root)) or "."
    except ValueError:
        return str(path)


def walk_files(root: Path, suffixes: tuple[str, ...]) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(
            d for d in dirnames if d not in PRUNE_DIRS and not d.startswith(".venv")
        )
        for f in sorted(filenames):
            if f.endswith(suffixes):
                yield Path(dirpath) / f


# --------------------------------------------------------------------------- kustomizations

KUSTOMIZATION_NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")


@dataclasses.dataclass(frozen=True)
class Kustomization:
    dir: Path
    file: Path
    kind: str  # Kustomization or Component
    doc: dict
    root: Path

    @property
    def rel(self) -> str:
        return rel(self.dir, self.root)

    def remote_resources(self) -> list[str]:
        """Entries that would need the network to build (URLs, git refs)."""
        return remote_entries(self.doc)


REMOTE = re.compile(r"^(https?://|git@|ssh://|github\.com/)")

# Remote resources the suite never fetches (it stays offline): each is rendered from the copy the
# release ships in a package registry, verified against its pin. Only Argo CD's install manifest:
# tools/manifest-tools.sh takes it from the argo-cd/v3 Go module at the version in
# clusters/kind/argocd/UPSTREAM and checks its sha256 there (test_argocd_upstream.py checks that
# the kustomization names exactly that URL).
ARGOCD_URL = re.compile(
    r"^https://raw\.githubusercontent\.com/argoproj/argo-cd/(v\d+\.\d+\.\d+)/manifests/install\.yaml$"
)


def argocd_version() -> str:
    """The pinned Argo CD release (clusters/kind/argocd/UPSTREAM in this checkout)."""
    text = (REPO_ROOT / "clusters" / "kind" / "argocd" / "UPSTREAM").read_text()
    return re.search(r"^VERSION=(\S+)$", text, flags=re.M).group(1)


def argocd_cache(version: str) -> Path:
    """Argo CD's release files as tools/manifest-tools.sh leaves them (install.yaml, crds/, schemas/)."""
    return REPO_ROOT / ".cache" / "argocd" / version


def remote_entries(doc: dict) -> list[str]:
    """Entries of resources/components that would need the network to build (URLs, git refs)."""
    return [
        r
        for key in ("resources", "components")
        for r in doc.get(key) or []
        if isinstance(r, str) and REMOTE.match(r)
    ]


def upstream_copy_for(resource: str) -> Path | None:
    m = ARGOCD_URL.match(resource)
    return argocd_cache(m.group(1)) / "install.yaml" if m else None


def find_kustomizations(root: Path | None = None) -> list[Kustomization]:
    root = root or manifest_root()
    found = []
    for top in ("base", "overlays", "clusters", "bootstrap", "components"):
        if not (root / top).is_dir():
            continue
        for f in walk_files(root / top, KUSTOMIZATION_NAMES):
            if f.name not in KUSTOMIZATION_NAMES:
                continue
            doc = yaml.safe_load(f.read_text()) or {}
            found.append(Kustomization(f.parent, f, doc.get("kind", "Kustomization"), doc, root))
    return found


@dataclasses.dataclass
class Rendered:
    dir: Path
    ok: bool
    objects: list[dict]
    text: str
    error: str = ""
    via: str = ""  # for components: the wrapper used; for remote resources: the verified upstream copy
    upstream_copies: tuple[str, ...] = ()  # remote resources rendered from their verified upstream copy


def kustomize_version() -> str:
    return subprocess.run(
        [str(KUSTOMIZE), "version"], capture_output=True, text=True, check=True
    ).stdout.strip()


def _build(path: Path) -> tuple[bool, str, str]:
    p = subprocess.run(
        [str(KUSTOMIZE), "build", str(path)],
        capture_output=True,
        text=True,
        env={**os.environ, "KUSTOMIZE_PLUGIN_HOME": "/nonexistent"},
    )
    return p.returncode == 0, p.stdout, p.stderr.strip()


_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def parse_objects(text: str) -> list[dict]:
    return [d for d in yaml.load_all(text, Loader=_Loader) if isinstance(d, dict)]


def _kustomization_doc(kdir: Path) -> dict | None:
    for name in KUSTOMIZATION_NAMES:
        f = kdir / name
        if f.is_file():
            return yaml.safe_load(f.read_text()) or {}
    return None


def _inputs(kdir: Path, seen: set[Path]) -> None:
    """Every file a kustomization can read: its own folder (recursively) and the
    folders it names in resources/components (recursively)."""
    kdir = kdir.resolve()
    if kdir in seen or not kdir.is_dir():
        return
    seen.add(kdir)
    doc = _kustomization_doc(kdir)
    for k in ("resources", "components", "bases"):
        for r in (doc or {}).get(k) or []:
            if isinstance(r, str) and not REMOTE.match(r):
                _inputs(kdir / r, seen)


def input_digest(kdir: Path) -> str:
    dirs: set[Path] = set()
    _inputs(kdir, dirs)
    h = hashlib.sha256()
    for d in sorted(dirs):
        for f in sorted(d.rglob("*")):
            if f.is_file():
                h.update(str(f.relative_to(d)).encode() + b"\0" + f.read_bytes() + b"\0")
        h.update(b"\1")
    for r in remote_entries(_kustomization_doc(kdir.resolve()) or {}):
        f = upstream_copy_for(r)
        h.update(r.encode() + b"\0" + (f.read_bytes() if f and f.is_file() else b"") + b"\2")
    return h.hexdigest()


def _build_with_upstream_copies(path: Path, doc: dict) -> tuple[bool, str, str]:
    """Build a copy of the folder in which each remote resource is its verified upstream copy,
    the way bootstrap/up.sh builds it against its verified download. The folder must be
    self-contained (no ../ paths), as clusters/kind/argocd is."""
    with tempfile.TemporaryDirectory(prefix="kupstream-") as tmp:
        copy = Path(tmp) / path.name
        shutil.copytree(path, copy)
        doc = dict(doc)
        for key in ("resources", "components"):
            entries = []
            for i, r in enumerate(doc.get(key) or []):
                f = upstream_copy_for(r) if isinstance(r, str) and REMOTE.match(r) else None
                if f is not None:
                    local = f"./upstream-{i}-{f.name}"
                    shutil.copyfile(f, copy / local)
                    r = local
                entries.append(r)
            if key in doc:
                doc[key] = entries
        kfile = next(copy / n for n in KUSTOMIZATION_NAMES if (copy / n).is_file())
        kfile.write_text(yaml.safe_dump(doc, sort_keys=False))
        ok, out, err = _build(copy)
        return ok, out, err.replace(str(copy), str(path))


# kustomize output by input digest: the mutation tests render many copies of one
# tree, and only the folders a mutation touched are built again
_RENDER_CACHE: dict[str, tuple[bool, list[dict], str, str]] = {}


def render_dir(path: Path) -> Rendered:
    """Build one kustomization, never over the network: a remote resource with a verified upstream
    copy is rendered from it; any other remote resource (here or in an included folder) fails the render.
    The parsed objects are shared between identical inputs: checks must not modify them."""
    doc = _kustomization_doc(path.resolve()) or {}
    remotes = remote_entries(doc)
    dirs: set[Path] = set()
    _inputs(path, dirs)
    nested = sorted(
        str(d) for d in dirs if d != path.resolve() and remote_entries(_kustomization_doc(d) or {})
    )
    unknown = [r for r in remotes if upstream_copy_for(r) is None]
    digest = input_digest(path)
    if digest not in _RENDER_CACHE:
        if nested or unknown:
            err = (
                f"not built (the suite stays offline): remote resources {unknown} have no verified "
                "upstream copy (tests/manifests/render.py upstream_copy_for)"
                if unknown
                else f"not built (the suite stays offline): includes folders with remote resources {nested}"
            )
            _RENDER_CACHE[digest] = (False, [], "", err)
        else:
            ok, out, err = _build_with_upstream_copies(path, doc) if remotes else _build(path)
            _RENDER_CACHE[digest] = (ok, parse_objects(out) if ok else [], out, err)
    ok, objects, out, err = _RENDER_CACHE[digest]
    via = ", ".join(
        f"{r} rendered from the verified upstream copy {rel(upstream_copy_for(r), REPO_ROOT)}"
        for r in remotes
        if upstream_copy_for(r)
    )
    return Rendered(
        path, ok, objects, out, err, via=via, upstream_copies=tuple(r for r in remotes if upstream_copy_for(r))
    )


def render_component(comp: Kustomization, candidates: Iterable[Path], root: Path) -> Rendered:
    """A Component cannot be built alone: build a throw-away kustomization that
    applies it, first on its own, then on top of each candidate base."""
    errors = []
    for base in [None, *candidates]:
        with tempfile.TemporaryDirectory(prefix="kcomp-") as tmp:
            # kustomize refuses absolute paths: refer to the folders relative to the wrapper
            doc = {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "resources": [os.path.relpath(base, tmp)] if base else [],
                "components": [os.path.relpath(comp.dir, tmp)],
            }
            Path(tmp, "kustomization.yaml").write_text(yaml.safe_dump(doc))
            ok, out, err = _build(Path(tmp))
        via = f"on {rel(base, root)}" if base else "alone"
        if ok and out.strip():
            return Rendered(comp.dir, True, parse_objects(out), out, via=via)
        errors.append(f"{via}: {err or 'renders nothing'}")
    return Rendered(comp.dir, False, [], "", "\n".join(errors))


def render_all(root: Path | None = None) -> dict[str, Rendered]:
    """Render every kustomization and component under root, 2 at a time."""
    root = root or manifest_root()
    ks = find_kustomizations(root)
    plain = [k for k in ks if k.kind != "Component"]
    comps = [k for k in ks if k.kind == "Component"]
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = dict(
            zip([k.rel for k in plain], pool.map(lambda k: render_dir(k.dir), plain), strict=True)
        )
    bases = sorted({k.dir for k in plain if k.rel.startswith("base/")})
    for c in comps:
        # try the base whose folder name shares a word with the component first
        words = set(re.split(r"[-_]", c.dir.name))
        cands = sorted(bases, key=lambda b: (not (words & set(re.split(r"[-_]", b.name))), b))
        results[c.rel] = render_component(c, cands, root)
    return results


# --------------------------------------------------------------------------- object helpers


def key(obj: dict) -> str:
    md = obj.get("metadata") or {}
    ns = md.get("namespace")
    return f"{obj.get('kind')}/{ns + '/' if ns else ''}{md.get('name')}"


def annotations(obj: dict) -> dict:
    return (obj.get("metadata") or {}).get("annotations") or {}


def labels(obj: dict) -> dict:
    return (obj.get("metadata") or {}).get("labels") or {}


WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod"}


def pod_template(obj: dict) -> dict | None:
    """(metadata+spec) of the pod an object runs, or None."""
    kind = obj.get("kind")
    spec = obj.get("spec") or {}
    if kind == "Pod":
        return {"metadata": obj.get("metadata") or {}, "spec": spec}
    if kind == "CronJob":
        return ((spec.get("jobTemplate") or {}).get("spec") or {}).get("template")
    if kind in WORKLOAD_KINDS:
        return spec.get("template")
    return None


def containers(pod_spec: dict, init: bool = True) -> Iterator[tuple[str, dict]]:
    """(field, container) for containers, initContainers and ephemeralContainers."""
    fields = ("containers", "initContainers", "ephemeralContainers") if init else ("containers",)
    for f in fields:
        for c in pod_spec.get(f) or []:
            yield f, c


def copy_tree(src: Path, dst: Path) -> Path:
    """Copy the manifest tree (not venvs, caches or .git) for mutation tests."""

    def ignore(d, names):
        return [n for n in names if n in PRUNE_DIRS or n.startswith(".venv")]

    shutil.copytree(src, dst, ignore=ignore, symlinks=True)
    return dst
