"""Cross-checks over the rendered kind stack. Each returns a list of problems,
one line each, naming the object (and where it was rendered) and what is wrong.
The tests assert the lists are empty; the mutation tests assert they are not."""

from __future__ import annotations

import fnmatch
import os
import re
from collections import defaultdict
from pathlib import Path

from kindstack import SYNC_WAVE as SYNC_WAVE_ANN
from kindstack import Stack, documented_secrets, kind_config
from render import PRUNE_DIRS, containers, key, labels, pod_template, rel

# ---------------------------------------------------------------------------- Argo CD

# lines the terminal summary prints (footprint totals)
REPORT: list[str] = []

CONTRACT_NAMESPACES = ["storage", "database", "airflow", "medallion", "metabase", "jupyter"]
# namespaces first; then storage+database; airflow; jobs; metabase+jupyter
WAVE_GROUPS = [
    ("namespaces", None),
    ("storage/database", {"storage", "database"}),
    ("airflow", {"airflow"}),
    ("jobs", {"medallion"}),
    ("metabase/jupyter", {"metabase", "jupyter"}),
]
IN_CLUSTER = {"https://kubernetes.default.svc", "in-cluster"}


def _renders_namespaces_only(stack: Stack, app) -> bool:
    objs = stack.app_objects.get(app.name) or []
    return bool(objs) and all(o.get("kind") == "Namespace" for o in objs)


def check_applications(stack: Stack) -> list[str]:
    p = []
    if not stack.apps:
        return ["no Argo CD Application found from bootstrap/ or clusters/kind"]
    projects = {o["metadata"]["name"]: o for _, o in stack.of_kind("AppProject")}
    for a in stack.apps:
        where = f"Application {a.name} (rendered from {a.found_in})"
        if not a.sources:
            p.append(f"{where}: no spec.source / spec.sources")
        for s in a.sources:
            if s.chart is None and s.path is None:
                p.append(f"{where}: source {s.repo_url} has no path")
            if s.path is not None:
                d = stack.root / s.path
                r = stack.renders.get(rel(d, stack.root))
                if not d.is_dir():
                    p.append(f"{where}: source path {s.path!r} does not exist in the repository")
                elif r is None:
                    p.append(f"{where}: source path {s.path!r} has no kustomization.yaml")
                elif not r.ok:
                    p.append(f"{where}: source path {s.path!r} does not render: {r.error[:300]}")
            if not s.target_revision:
                p.append(f"{where}: source has no targetRevision")
        sp = a.spec.get("syncPolicy") or {}
        auto = sp.get("automated") or {}
        if auto.get("prune") is not True or auto.get("selfHeal") is not True:
            p.append(
                f"{where}: syncPolicy.automated must set prune: true and selfHeal: true (got {auto})"
            )
        if auto.get("enabled") is False:
            p.append(f"{where}: syncPolicy.automated.enabled is false")
        limit = (sp.get("retry") or {}).get("limit")
        if not isinstance(limit, int) or not 1 <= limit <= 20:
            p.append(
                f"{where}: syncPolicy.retry.limit must be a bounded number 1..20 (got {limit!r})"
            )
        dest = a.spec.get("destination") or {}
        if (dest.get("server") or dest.get("name")) not in IN_CLUSTER:
            p.append(f"{where}: destination {dest} is not the in-cluster server")
        if a.project in (None, "", "default"):
            p.append(
                f"{where}: uses the built-in 'default' project; use a least-privilege AppProject"
            )
        elif a.project not in projects:
            p.append(f"{where}: project {a.project!r} is not an AppProject in the stack")
        else:
            pspec = projects[a.project].get("spec") or {}
            repos = pspec.get("sourceRepos") or []
            for s in a.sources:
                if s.repo_url not in repos:
                    p.append(
                        f"{where}: repoURL {s.repo_url!r} is not in AppProject {a.project} sourceRepos {repos}"
                    )
            dests = pspec.get("destinations") or []
            namespaces = {a.dest_ns} | {
                (o.get("metadata") or {}).get("namespace")
                for o in stack.app_objects.get(a.name, [])
            }
            for ns in sorted(n for n in namespaces if n):
                if not any(fnmatch.fnmatchcase(ns, d.get("namespace", "")) for d in dests):
                    p.append(
                        f"{where}: namespace {ns!r} is not an allowed destination of AppProject {a.project}"
                    )
    return p


def check_projects(stack: Stack) -> list[str]:
    p = []
    projs = stack.of_kind("AppProject")
    if not projs:
        p.append("no AppProject in the stack")
    for src, o in projs:
        name, spec = o["metadata"]["name"], o.get("spec") or {}
        where = f"AppProject {name} (rendered from {src})"
        if name == "default":
            p.append(f"{where}: redefines the built-in default project")
        for r in spec.get("sourceRepos") or []:
            if "*" in r:
                p.append(f"{where}: sourceRepos entry {r!r} contains '*'")
        if not spec.get("sourceRepos"):
            p.append(f"{where}: no sourceRepos")
        if not spec.get("destinations"):
            p.append(f"{where}: no destinations")
        for d in spec.get("destinations") or []:
            for f in ("namespace", "server", "name"):
                if "*" in str(d.get(f, "")):
                    p.append(f"{where}: destination {d} has '*' in {f}")
        for f in ("clusterResourceWhitelist", "namespaceResourceWhitelist"):
            for gk in spec.get(f) or []:
                if "*" in str(gk.get("kind", "")) or ("*" in str(gk.get("group", ""))):
                    p.append(f"{where}: {f} entry {gk} has '*'")
    # An Application applied before its AppProject exists stays Unknown, and the root
    # app-of-apps waits on its wave for ever: every project is in an earlier wave.
    waves = {o["metadata"]["name"]: _wave(o) for _, o in projs}
    for a in stack.apps:
        if a.project in waves and a.wave is not None and not waves[a.project] < a.wave:
            p.append(
                f"Application {a.name} (wave {a.wave}) uses AppProject {a.project} of wave "
                f"{waves[a.project]}: the project must be in an earlier sync wave"
            )
    return p


def _wave(o: dict) -> int:
    try:
        return int(((o.get("metadata") or {}).get("annotations") or {}).get(SYNC_WAVE_ANN, 0))
    except ValueError:
        return 0


def app_group(stack: Stack, app) -> str | None:
    if app.name == "namespaces" or _renders_namespaces_only(stack, app):
        return "namespaces"
    for g, nss in WAVE_GROUPS[1:]:
        if app.dest_ns in nss:
            return g
    return None


def check_sync_waves(stack: Stack) -> list[str]:
    p = []
    groups: dict[str, list] = defaultdict(list)
    for a in stack.apps:
        g = app_group(stack, a)
        if g:
            groups[g].append(a)
            if a.wave is None:
                p.append(f"Application {a.name}: no integer {SYNC_WAVE_ANN} annotation")
    for g, _ in WAVE_GROUPS:
        if not groups.get(g):
            p.append(f"no Application for the {g!r} sync-wave group")
    order = [g for g, _ in WAVE_GROUPS if groups.get(g)]
    for earlier, later in zip(order, order[1:], strict=False):
        hi = max(groups[earlier], key=lambda a: a.wave or 0)
        lo = min(groups[later], key=lambda a: a.wave or 0)
        if not (hi.wave or 0) < (lo.wave or 0):
            p.append(
                f"sync waves out of order: {earlier} Application {hi.name} has wave {hi.wave} "
                f">= {later} Application {lo.name} wave {lo.wave}"
            )
    for ns in CONTRACT_NAMESPACES:
        if not any(a.dest_ns == ns for a in stack.apps):
            p.append(f"no Application has destination namespace {ns!r}")
    return p


def check_namespace_ownership(stack: Stack) -> list[str]:
    """Every namespace has exactly one owner: an Application that renders the
    Namespace object or creates it with CreateNamespace=true."""
    p = []
    owners: dict[str, list[str]] = defaultdict(list)
    for a in stack.apps:
        for o in stack.app_objects.get(a.name, []):
            if o.get("kind") == "Namespace":
                owners[o["metadata"]["name"]].append(f"Application {a.name}")
        if "CreateNamespace=true" in a.sync_options and a.dest_ns:
            owners[a.dest_ns].append(f"Application {a.name} (CreateNamespace=true)")
    for ns, who in sorted(owners.items()):
        if len(who) > 1:
            p.append(f"namespace {ns!r} is owned by {len(who)} Applications: {', '.join(who)}")
    bootstrap_text = (
        "\n".join(
            f.read_text(errors="replace")
            for f in (stack.root / "bootstrap").rglob("*")
            if f.is_file()
        )
        if (stack.root / "bootstrap").is_dir()
        else ""
    )
    used = {a.dest_ns for a in stack.apps} | {
        (o.get("metadata") or {}).get("namespace")
        for objs in stack.app_objects.values()
        for o in objs
    }
    for ns in sorted(n for n in used if n):
        if ns not in owners and not re.search(rf"\b{re.escape(ns)}\b", bootstrap_text):
            p.append(
                f"namespace {ns!r} is used but no Application owns it and bootstrap/ does not create it"
            )
    # any object rendered by two Applications makes them fight over it
    seen: dict[str, str] = {}
    for a in stack.apps:
        for o in stack.app_objects.get(a.name, []):
            k = key(o)
            if k in seen and seen[k] != a.name:
                p.append(f"{k} is rendered by both Application {seen[k]} and Application {a.name}")
            seen.setdefault(k, a.name)
    return p


# ---------------------------------------------------------------------------- repo URL

TEXT_SUFFIXES = (
    ".yaml",
    ".yml",
    ".json",
    ".sh",
    ".py",
    ".cfg",
    ".toml",
    ".env",
    ".txt",
    "Makefile",
    ".ini",
    ".tpl",
    ".j2",
)


def repo_urls(stack: Stack) -> set[str]:
    """The URL(s) of this repository as the Applications name it (sources with a path)."""
    return {
        s.repo_url
        for a in stack.apps
        for s in a.sources
        if s.path is not None and s.repo_url and "${" not in s.repo_url
    }


def _norm(u: str) -> str:
    return re.sub(r"(\.git)?/?$", "", u)


def check_repo_url_single_place(stack: Stack) -> list[str]:
    urls = {_norm(u) for u in repo_urls(stack)}
    if not urls:
        return ["no Application names a repoURL with a path"]
    p = []
    if len(urls) > 1:
        p.append(f"Applications name {len(urls)} different repository URLs: {sorted(urls)}")
    hits: dict[str, list[str]] = defaultdict(list)
    for f in _text_files(stack.root):
        text = f.read_text(errors="replace")
        for u in urls:
            if u in text:
                hits[u].append(rel(f, stack.root))
    for u in sorted(urls):
        files = hits.get(u, [])
        if len(files) != 1:
            p.append(
                f"repository URL {u!r} must be written in exactly one file (outside docs and tests); "
                f"found in {len(files)}: {files}"
            )
    return p


def _text_files(root: Path):
    """Source files where a repository URL could be hard-coded (docs and tests excluded)."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(
            d
            for d in dirnames
            if d not in PRUNE_DIRS
            and not d.startswith(".venv")
            and not (Path(dirpath) == root and d == "tests")
        )
        for name in sorted(filenames):
            f = Path(dirpath) / name
            if (
                (name.endswith(TEXT_SUFFIXES) or f.suffix == "")
                and f.suffix != ".md"
                and f.stat().st_size < 5e6
            ):
                yield f


# ---------------------------------------------------------------------------- references


def _refs(pod_spec: dict):
    """(kind, name, key or None, optional, where) for every Secret/ConfigMap reference."""
    for field, c in containers(pod_spec):
        cn = f"{field}[{c.get('name')}]"
        for e in c.get("env") or []:
            vf = e.get("valueFrom") or {}
            for kind, ref in (
                ("Secret", vf.get("secretKeyRef")),
                ("ConfigMap", vf.get("configMapKeyRef")),
            ):
                if ref:
                    yield (
                        kind,
                        ref.get("name"),
                        ref.get("key"),
                        bool(ref.get("optional")),
                        f"{cn} env {e.get('name')}",
                    )
        for ef in c.get("envFrom") or []:
            for kind, ref in (
                ("Secret", ef.get("secretRef")),
                ("ConfigMap", ef.get("configMapRef")),
            ):
                if ref:
                    yield kind, ref.get("name"), None, bool(ref.get("optional")), f"{cn} envFrom"
    for v in pod_spec.get("volumes") or []:
        vn = f"volume {v.get('name')}"
        if v.get("secret"):
            s = v["secret"]
            for it in s.get("items") or [{}]:
                yield "Secret", s.get("secretName"), it.get("key"), bool(s.get("optional")), vn
        if v.get("configMap"):
            s = v["configMap"]
            for it in s.get("items") or [{}]:
                yield "ConfigMap", s.get("name"), it.get("key"), bool(s.get("optional")), vn
        for src in (v.get("projected") or {}).get("sources") or []:
            for kind, f in (("Secret", "secret"), ("ConfigMap", "configMap")):
                if src.get(f):
                    s = src[f]
                    for it in s.get("items") or [{}]:
                        yield (
                            kind,
                            s.get("name"),
                            it.get("key"),
                            bool(s.get("optional")),
                            f"{vn} (projected)",
                        )
    for ips in pod_spec.get("imagePullSecrets") or []:
        yield "Secret", ips.get("name"), None, False, "imagePullSecrets"


def _data_keys(o: dict) -> set[str]:
    return (
        set(o.get("data") or {}) | set(o.get("stringData") or {}) | set(o.get("binaryData") or {})
    )


def check_references(stack: Stack) -> list[str]:
    p = []
    documented, err = documented_secrets(stack.root)
    if err:
        p.append(err)
    rendered = {
        (o.get("kind"), (o.get("metadata") or {}).get("namespace"), o["metadata"]["name"]): o
        for _, o in stack.of_kind("Secret", "ConfigMap")
    }
    sas = {
        ((o.get("metadata") or {}).get("namespace"), o["metadata"]["name"])
        for _, o in stack.of_kind("ServiceAccount")
    }
    pvcs = {
        ((o.get("metadata") or {}).get("namespace"), o["metadata"]["name"])
        for _, o in stack.of_kind("PersistentVolumeClaim")
    }
    for src, o in stack.objects:
        tpl = pod_template(o)
        if not tpl:
            continue
        ns = (o.get("metadata") or {}).get("namespace")
        spec = tpl.get("spec") or {}
        where = f"{key(o)} (rendered from {src})"
        for kind, name, k, optional, field in _refs(spec):
            if optional:
                continue
            obj = rendered.get((kind, ns, name))
            if obj is not None:
                # a rendered Secret without data is filled in the cluster: its keys are unknown here
                if k and k not in _data_keys(obj) and (kind == "ConfigMap" or _data_keys(obj)):
                    p.append(
                        f"{where}: {field} reads key {k!r} of {kind} {ns}/{name}, "
                        f"which has keys {sorted(_data_keys(obj))}"
                    )
                continue
            if kind == "Secret" and (ns, name) in documented:
                keys = documented[(ns, name)]
                if k and keys is not None and k not in keys:
                    p.append(
                        f"{where}: {field} reads key {k!r} of Secret {ns}/{name}, but bootstrap/secrets.yaml "
                        f"lists keys {sorted(keys)}"
                    )
                continue
            p.append(
                f"{where}: {field} references {kind} {ns}/{name}, which is neither rendered in "
                f"namespace {ns} nor listed in bootstrap/secrets.yaml"
            )
        sa = spec.get("serviceAccountName")
        if sa and sa != "default" and (ns, sa) not in sas:
            p.append(f"{where}: serviceAccountName {sa!r} is not rendered in namespace {ns}")
        for v in spec.get("volumes") or []:
            c = (v.get("persistentVolumeClaim") or {}).get("claimName")
            if c and (ns, c) not in pvcs:
                p.append(
                    f"{where}: volume {v.get('name')} claims PVC {c!r}, not rendered in namespace {ns}"
                )
    return p


# ---------------------------------------------------------------------------- services and ports


def _pod_templates(stack: Stack):
    for src, o in stack.objects:
        tpl = pod_template(o)
        if tpl:
            yield src, o, tpl


def check_services(stack: Stack) -> list[str]:
    p = []
    templates = list(_pod_templates(stack))
    for src, svc in stack.of_kind("Service"):
        spec = svc.get("spec") or {}
        sel = spec.get("selector")
        ns = svc["metadata"].get("namespace")
        where = f"Service {ns}/{svc['metadata']['name']} (rendered from {src})"
        if not sel or spec.get("type") == "ExternalName":
            continue
        matches = [
            (o, t)
            for _, o, t in templates
            if o["metadata"].get("namespace") == ns and sel.items() <= (labels(t) or {}).items()
        ]
        if not matches:
            p.append(f"{where}: selector {sel} matches no pod template in namespace {ns}")
            continue
        for port in spec.get("ports") or []:
            tp = port.get("targetPort", port.get("port"))
            found = False
            for _, t in matches:
                for _, c in containers(t.get("spec") or {}, init=True):
                    for cp in c.get("ports") or []:
                        if (isinstance(tp, int) and cp.get("containerPort") == tp) or (
                            isinstance(tp, str)
                            and (cp.get("name") == tp or str(cp.get("containerPort")) == tp)
                        ):
                            found = True
            if not found:
                names = ", ".join(key(o) for o, _ in matches)
                p.append(
                    f"{where}: port {port.get('name') or port.get('port')} targetPort {tp!r} is not a "
                    f"containerPort (number or name) of the selected pods ({names})"
                )
    return p


def nodeports(stack: Stack) -> dict[int, str]:
    out = {}
    for src, svc in stack.of_kind("Service"):
        for port in (svc.get("spec") or {}).get("ports") or []:
            if port.get("nodePort"):
                out[int(port["nodePort"])] = f"{key(svc)} (rendered from {src})"
    return out


def check_nodeports(stack: Stack) -> list[str]:
    p = []
    cfg = kind_config(stack.root)
    mapped: dict[int, int | None] = {}
    for n in cfg.get("nodes") or []:
        for m in n.get("extraPortMappings") or []:
            mapped[int(m["containerPort"])] = m.get("hostPort")
    for cp, hp in sorted(mapped.items()):
        if hp is not None and int(hp) != cp:
            p.append(
                f"kind-config.yaml: extraPortMappings containerPort {cp} has hostPort {hp}; the "
                "contract is containerPort = hostPort"
            )
    nps = nodeports(stack)
    for src, svc in stack.of_kind("Service"):
        spec = svc.get("spec") or {}
        if spec.get("type") in ("NodePort", "LoadBalancer"):
            for port in spec.get("ports") or []:
                if not port.get("nodePort"):
                    p.append(
                        f"{key(svc)} (rendered from {src}): type {spec['type']} port {port.get('port')} "
                        "has no fixed nodePort, so kind cannot map it"
                    )
    for np_, who in sorted(nps.items()):
        if np_ not in mapped:
            p.append(
                f"{who}: nodePort {np_} has no extraPortMappings containerPort in kind-config.yaml "
                f"(mapped: {sorted(mapped)})"
            )
    extra = extra_nodeports_outside_stack(stack)
    for cp in sorted(mapped):
        if cp not in nps and cp not in extra:
            p.append(
                f"kind-config.yaml: extraPortMappings containerPort {cp} is not the nodePort of any Service "
                f"rendered in the kind stack (nodePorts: {sorted(nps)})"
            )
    return p


def extra_nodeports_outside_stack(stack: Stack) -> dict[int, str]:
    """NodePorts set in bootstrap/ patches that cannot be rendered offline (Argo CD's own Service
    comes from the pinned upstream install manifest)."""
    out = {}
    b = stack.root / "bootstrap"
    if not b.is_dir():
        return out
    for f in b.rglob("*.yaml"):
        for m in re.finditer(r"nodePort:\s*(\d+)", f.read_text(errors="replace")):
            out[int(m.group(1))] = rel(f, stack.root)
    return out


# ---------------------------------------------------------------------------- pod security
# The Pod Security "restricted" fields, resources and probes are graded by checkov
# (test_checkov.py: CKV_K8S_8-23, 26, 28, 31, 37, 40) and enforced for real by PodSecurity
# admission in the control-plane tier (tests/cluster): no hand-written copy of those rules here.


# ---------------------------------------------------------------------------- images

OWN_IMAGES = "ghcr.io/data-stack-k8s/"
DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
# Argo CD's release images: upstream pins tags only, and no registry is reachable where these
# tests run, so their digests are resolved and committed by the images workflow where Docker
# runs (clusters/kind/argocd/kustomization.yaml says so). A version tag is still required.
DIGEST_FROM_IMAGES_WORKFLOW = ("quay.io/argoproj/argocd:", "public.ecr.aws/docker/library/redis:")


def check_api_token_where_needed(objects) -> list[str]:
    """A pod whose containers run an `argocd admin` command talks to the Kubernetes API (Argo CD's
    redis init container creates the argocd-redis Secret that way): its token must be mounted."""
    p = []
    for src, o in objects:
        tpl = pod_template(o)
        spec = (tpl or {}).get("spec") or {}
        if not tpl or spec.get("automountServiceAccountToken") is not False:
            continue
        for field, c in containers(spec):
            words = [str(w) for w in (c.get("command") or []) + (c.get("args") or [])]
            if "admin" in words and any(w.endswith("argocd") for w in words):
                p.append(
                    f"{key(o)} (rendered from {src}) {field}[{c.get('name')}] runs "
                    f"`{' '.join(words)}`, which calls the Kubernetes API, but the pod's "
                    "automountServiceAccountToken is false"
                )
    return p


def image_problems(image: str) -> list[str]:
    """This project's image rules that checkov has not: Docker Hub's minio/minio is gone,
    Bitnami's images are a frozen legacy repository, and a digest carries its version tag
    beside it so a reader knows what runs (checkov's CKV_K8S_14 passes a bare digest)."""
    p = []
    name = image.split("@")[0]
    last = name.rsplit("/", 1)[-1]
    tag = last.split(":", 1)[1] if ":" in last else None
    repo = name.rsplit(":", 1)[0] if tag else name
    if re.match(r"^(docker\.io/|index\.docker\.io/)?(library/)?minio/minio$", repo):
        p.append("is Docker Hub minio/minio (gone); use quay.io/minio/minio")
    if "bitnami" in repo.lower():
        p.append("is a Bitnami image (frozen legacy repository)")
    if DIGEST.search(image) and tag in (None, ""):
        p.append("has a digest without a version tag next to it")
    return p


def configured_image_problems(image: str) -> list[str]:
    """An image named in a ConfigMap value (the pods the DAGs build): checkov sees container
    images only, so its tag (CKV_K8S_14) and digest (CKV_K8S_43) rules are applied here."""
    p = image_problems(image)
    name = image.split("@")[0]
    last = name.rsplit("/", 1)[-1]
    tag = last.split(":", 1)[1] if ":" in last else None
    if tag in (None, "") and not DIGEST.search(image):
        p.append("has no tag")
    if tag == "latest":
        p.append("uses the tag 'latest'")
    pinned_elsewhere = image.startswith((OWN_IMAGES, *DIGEST_FROM_IMAGES_WORKFLOW))
    if not pinned_elsewhere and not DIGEST.search(image):
        p.append("is a third-party image without an @sha256 digest")
    return p


def check_images(objects) -> list[str]:
    p = []
    for src, o in objects:
        tpl = pod_template(o)
        if tpl:
            for field, c in containers(tpl.get("spec") or {}):
                for prob in image_problems(str(c.get("image", ""))):
                    p.append(
                        f"{key(o)} (rendered from {src}) {field}[{c.get('name')}]: image "
                        f"{c.get('image')!r} {prob}"
                    )
        if o.get("kind") == "ConfigMap":
            for k, v in (o.get("data") or {}).items():
                if k.endswith("_IMAGE"):
                    for prob in configured_image_problems(str(v)):
                        p.append(f"{key(o)} (rendered from {src}) data.{k}: image {v!r} {prob}")
    return p


# ---------------------------------------------------------------------------- namespaces

PSA = "pod-security.kubernetes.io/"


def check_namespaces(stack: Stack) -> list[str]:
    p = []
    nps_by_ns = defaultdict(list)
    for _, np_ in stack.of_kind("NetworkPolicy"):
        nps_by_ns[np_["metadata"].get("namespace")].append(np_)
    pods_ns = {o["metadata"].get("namespace") for _, o, _ in _pod_templates(stack)}
    for ns in stack.namespaces():
        name = ns["metadata"]["name"]
        lab = labels(ns)
        level = lab.get(PSA + "enforce")
        if level not in ("restricted", "baseline", "privileged"):
            p.append(f"Namespace {name}: no valid {PSA}enforce label (got {level!r})")
        elif level != "restricted" and not (
            lab.get(PSA + "warn") == lab.get(PSA + "audit") == "restricted"
        ):
            p.append(
                f"Namespace {name}: {PSA}enforce is {level!r}; below restricted, warn and audit must be "
                "restricted so violations show"
            )
        policies = nps_by_ns.get(name, [])

        def empty_sel(np_):
            sel = (np_.get("spec") or {}).get("podSelector") or {}
            return not sel.get("matchLabels") and not sel.get("matchExpressions")

        deny_in = any(
            empty_sel(x)
            and "Ingress" in (x["spec"].get("policyTypes") or [])
            and not x["spec"].get("ingress")
            for x in policies
        )
        deny_out = any(
            empty_sel(x)
            and "Egress" in (x["spec"].get("policyTypes") or [])
            and not x["spec"].get("egress")
            for x in policies
        )
        if not (deny_in and deny_out):
            p.append(
                f"Namespace {name}: no default-deny NetworkPolicy (podSelector {{}}, policyTypes "
                f"[Ingress, Egress], no rules); has ingress-deny={deny_in}, egress-deny={deny_out}"
            )
        if deny_out and name in pods_ns:
            dns = any(
                any(
                    pt.get("port") == 53
                    for r in (x["spec"].get("egress") or [])
                    for pt in r.get("ports") or []
                )
                for x in policies
            )
            if not dns:
                p.append(
                    f"Namespace {name}: egress is denied by default but no NetworkPolicy allows DNS (port 53)"
                )
    return p


# ---------------------------------------------------------------------------- footprint

_UNITS = {
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "k": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
    "m": 1e-3,
    "": 1,
}


def quantity(q) -> float:
    m = re.fullmatch(r"([0-9.]+)([A-Za-z]*)", str(q).strip())
    if not m or m.group(2) not in _UNITS:
        raise ValueError(f"cannot parse quantity {q!r}")
    return float(m.group(1)) * _UNITS[m.group(2)]


def pod_requests(spec: dict) -> tuple[float, float]:
    """Effective (cpu cores, memory bytes) requests of a pod, per the Kubernetes rules:
    max(sum of app containers + restartable init (sidecar) containers,
        each init container + the sidecars started before it)."""

    def req(c):
        r = (c.get("resources") or {}).get("requests") or {}
        return quantity(r.get("cpu", 0)), quantity(r.get("memory", 0))

    cpu = sum(req(c)[0] for c in spec.get("containers") or [])
    mem = sum(req(c)[1] for c in spec.get("containers") or [])
    side_cpu = side_mem = 0.0
    init_cpu = init_mem = 0.0
    for c in spec.get("initContainers") or []:
        rc, rm = req(c)
        if c.get("restartPolicy") == "Always":
            side_cpu += rc
            side_mem += rm
        else:
            init_cpu = max(init_cpu, rc + side_cpu)
            init_mem = max(init_mem, rm + side_mem)
    return max(cpu + side_cpu, init_cpu), max(mem + side_mem, init_mem)


def footprint(stack: Stack, nodes: int = 2) -> tuple[float, float, list[str]]:
    rows = []
    tcpu = tmem = 0.0
    for _src, o, tpl in _pod_templates(stack):
        spec = o.get("spec") or {}
        kind = o.get("kind")
        if kind in ("Deployment", "StatefulSet", "ReplicaSet"):
            n = spec.get("replicas", 1)
        elif kind == "DaemonSet":
            n = nodes
        elif kind == "Job":
            n = spec.get("parallelism", 1)
        elif kind == "CronJob":
            n = ((spec.get("jobTemplate") or {}).get("spec") or {}).get("parallelism", 1)
        else:
            n = 1
        c, m = pod_requests(tpl.get("spec") or {})
        tcpu += n * c
        tmem += n * m
        rows.append(f"{key(o):60s} x{n}  cpu {n * c * 1000:6.0f}m  memory {n * m / 2**20:7.0f}Mi")
    return tcpu, tmem, rows


# ---------------------------------------------------------------------------- AppProject permissions

CLUSTER_SCOPED = {
    "Namespace",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "PersistentVolume",
    "StorageClass",
    "PriorityClass",
    "ValidatingWebhookConfiguration",
    "MutatingWebhookConfiguration",
    "APIService",
    "IngressClass",
    "RuntimeClass",
    "CSIDriver",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
    "VolumeAttachment",
}


def _group(api_version: str) -> str:
    return api_version.split("/")[0] if "/" in api_version else ""


def _gk_match(entries, group: str, kind: str) -> bool:
    return any(
        fnmatch.fnmatchcase(group, e.get("group", ""))
        and fnmatch.fnmatchcase(kind, e.get("kind", ""))
        for e in entries or []
    )


def check_project_permissions(stack: Stack) -> list[str]:
    """Argo CD refuses to sync a kind its AppProject does not permit ("resource X is not permitted in
    project Y"): every rendered object must pass its Application's project white/blacklists."""
    p = []
    projects = {o["metadata"]["name"]: o.get("spec") or {} for _, o in stack.of_kind("AppProject")}
    for a in stack.apps:
        spec = projects.get(a.project)
        if spec is None:
            continue  # reported by check_applications
        for o in stack.app_objects.get(a.name, []):
            g, k = _group(str(o.get("apiVersion", ""))), o.get("kind", "")
            what = f"Application {a.name}: {key(o)} ({g or 'core'}/{k})"
            if k in CLUSTER_SCOPED:
                if not _gk_match(spec.get("clusterResourceWhitelist"), g, k) or _gk_match(
                    spec.get("clusterResourceBlacklist"), g, k
                ):
                    p.append(
                        f"{what} is cluster-scoped and not permitted by AppProject {a.project} "
                        "clusterResourceWhitelist"
                    )
            else:
                wl = spec.get("namespaceResourceWhitelist")
                if (wl and not _gk_match(wl, g, k)) or _gk_match(
                    spec.get("namespaceResourceBlacklist"), g, k
                ):
                    p.append(
                        f"{what} is not permitted by AppProject {a.project} namespaceResource white/blacklist"
                    )
    return p


def check_checkov_skip_annotations(objects) -> list[str]:
    """Every `checkov.io/skipN` annotation is `CKV_K8S_NN=<reason>` with a real reason."""
    p = []
    for src, o in objects:
        for k, v in ((o.get("metadata") or {}).get("annotations") or {}).items():
            if not k.startswith("checkov.io/"):
                continue
            m = re.match(r"^(CKV2?_K8S_\d+)\s*=\s*(\S.*)$", str(v).strip())
            if not re.match(r"^checkov\.io/skip\d+$", k):
                p.append(
                    f"{key(o)} (rendered from {src}): annotation {k!r} is not checkov.io/skipN"
                )
            elif not m or len(m.group(2).strip()) < 10:
                p.append(
                    f"{key(o)} (rendered from {src}): {k}: {v!r} is not `CKV_K8S_NN=<reason of a few words>`"
                )
        tpl = pod_template(o)
        for k in ((tpl or {}).get("metadata") or {}).get("annotations") or {}:
            if k.startswith("checkov.io/"):
                p.append(
                    f"{key(o)} (rendered from {src}): {k} sits on the pod template; checkov reads it only "
                    "from the workload's own metadata.annotations"
                )
    return p


# ---------------------------------------------------------------------------- downward API

_FIELD = re.compile(r"^metadata\.(annotations|labels)\['([^']+)'\]$")


def check_downward_api(stack: Stack) -> list[str]:
    """A fieldRef to metadata.annotations['k'] / labels['k'] must name a key the pod will have: on the
    rendered pod template, or added by its Application's kustomize.commonAnnotations/commonLabels
    (Argo CD applies those, templates included, at sync time; git-sync reads the repo URL that way)."""
    p = []
    app_of = {}
    for a in stack.apps:
        for o in stack.app_objects.get(a.name, []):
            app_of[key(o)] = a
    for src, o, tpl in _pod_templates(stack):
        a = app_of.get(key(o))
        kz = {}
        for s in (a.spec.get("sources") or [a.spec.get("source") or {}]) if a else []:
            kz.update(s.get("kustomize") or {})
        have = {
            "annotations": set((tpl.get("metadata") or {}).get("annotations") or {})
            | set(kz.get("commonAnnotations") or {}),
            "labels": set((tpl.get("metadata") or {}).get("labels") or {})
            | set(kz.get("commonLabels") or {}),
        }
        spec = tpl.get("spec") or {}
        refs = [
            (
                f"{field}[{c.get('name')}] env {e.get('name')}",
                ((e.get("valueFrom") or {}).get("fieldRef") or {}),
            )
            for field, c in containers(spec)
            for e in c.get("env") or []
        ]
        refs += [
            (f"volume {v.get('name')} item {it.get('path')}", it.get("fieldRef") or {})
            for v in spec.get("volumes") or []
            for it in (v.get("downwardAPI") or {}).get("items") or []
        ]
        for where, ref in refs:
            m = _FIELD.match(ref.get("fieldPath", ""))
            if m and m.group(2) not in have[m.group(1)]:
                p.append(
                    f"{key(o)} (rendered from {src}) {where}: reads metadata.{m.group(1)}['{m.group(2)}'], which "
                    f"neither the pod template nor Application {a.name if a else '?'}'s kustomize.common"
                    f"{m.group(1).capitalize()} sets"
                )
    return p


# ---------------------------------------------------------------------------- team contract

# The names the DAG and the job pods rely on (dags/medallion_dag_support.py, base/medallion). No pod template in the
# repository reads them (job pods are created at run time by the DAG), so they are checked here.
CONTRACT_SERVICES = {
    ("storage", "s3"): 9000,
    ("storage", "minio-console"): 9001,
    ("database", "postgres"): 5432,
    ("airflow", "airflow-api-server"): 8080,
    ("metabase", "metabase"): 3000,
    ("jupyter", "jupyter"): 8888,
}
CONTRACT_NODEPORTS = {
    30443: "argocd",
    30080: "airflow",
    30901: "storage",
    30300: "metabase",
    30888: "jupyter",
}
CONTRACT_CONFIGMAPS = {
    ("medallion", "medallion-config"): {
        "LAKE_ROOT",
        "S3_ENDPOINT_URL",
        "AWS_REGION",
        "MARKET_SOURCE",
        "WATCHLIST",
        "BAR_INTERVAL",
        "SPARK_MASTER",
    },
    ("airflow", "medallion-images"): {"INGESTOR_IMAGE", "TRANSFORMER_IMAGE", "AGGREGATOR_IMAGE"},
}
CONTRACT_SECRETS = {
    ("medallion", "medallion-s3"): {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"},
    ("medallion", "medallion-analytics"): {"ANALYTICS_DSN"},
}


def check_contract(stack: Stack) -> list[str]:
    p = []
    svcs = {
        (o["metadata"].get("namespace"), o["metadata"]["name"]): o
        for _, o in stack.of_kind("Service")
    }
    for (ns, name), port in CONTRACT_SERVICES.items():
        s = svcs.get((ns, name))
        if s is None:
            p.append(f"contract: Service {ns}/{name} is not rendered in the kind stack")
        elif port not in [x.get("port") for x in (s.get("spec") or {}).get("ports") or []]:
            p.append(f"contract: Service {ns}/{name} does not expose port {port}")
    for np_, ns in CONTRACT_NODEPORTS.items():
        who = nodeports(stack).get(np_, "")
        if f"/{ns}/" not in who:
            p.append(
                f"contract: nodePort {np_} should belong to a Service in namespace {ns} (got {who or 'none'})"
            )
    cms = {
        (o["metadata"].get("namespace"), o["metadata"]["name"]): o
        for _, o in stack.of_kind("ConfigMap")
    }
    for (ns, name), keys in CONTRACT_CONFIGMAPS.items():
        cm = cms.get((ns, name))
        if cm is None:
            p.append(
                f"contract: ConfigMap {ns}/{name} is not rendered (with a fixed name) in the kind stack"
            )
        elif keys - set(cm.get("data") or {}):
            p.append(
                f"contract: ConfigMap {ns}/{name} lacks keys {sorted(keys - set(cm.get('data') or {}))}"
            )
    documented, _ = documented_secrets(stack.root)
    for (ns, name), keys in CONTRACT_SECRETS.items():
        if (ns, name) not in documented:
            p.append(f"contract: Secret {ns}/{name} is not listed in bootstrap/secrets.yaml")
        elif documented[(ns, name)] is not None and keys - documented[(ns, name)]:
            p.append(
                f"contract: bootstrap/secrets.yaml lists Secret {ns}/{name} without keys "
                f"{sorted(keys - documented[(ns, name)])}"
            )
    sas = {
        (o["metadata"].get("namespace"), o["metadata"]["name"]): o
        for _, o in stack.of_kind("ServiceAccount")
    }
    sa = sas.get(("medallion", "medallion-job"))
    if sa is None:
        p.append("contract: ServiceAccount medallion/medallion-job is not rendered")
    elif sa.get("automountServiceAccountToken") is not False:
        p.append(
            "contract: ServiceAccount medallion/medallion-job must set automountServiceAccountToken: false"
        )
    return p
