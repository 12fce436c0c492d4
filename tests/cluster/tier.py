"""The control-plane tier: a real Kubernetes control plane and Argo CD's own controller,
as local processes on 127.0.0.1, bootstrapped by the project's own `make up` steps.

- Kubernetes (etcd, kube-apiserver with PodSecurity admission, kube-controller-manager,
  kube-scheduler) at the kind node's minor, started by kwokctl's binary runtime; kwok
  stands in for the nodes and the pods' lifecycle (Running and Ready, Jobs complete).
- What kind gives that a bare control plane lacks: a default StorageClass that binds every
  claim (`standard`, as kind's local-path) — a small provisioner thread here creates a PV
  for each pending claim.
- A git daemon on 127.0.0.1 serving the commit under test. In the served tree only, the
  remote Argo CD install manifest is replaced by the verified copy from Argo CD's Go module
  (the sha256 pinned in clusters/kind/argocd/UPSTREAM), since the network is not reachable.
- bootstrap/up.sh with CLUSTER_PROVIDER=current: the same steps as `make up` but the kind
  cluster and its image loading (kwok pulls nothing).
- Argo CD's application-controller and repo-server from its Go module (the pinned
  version), with Debian's redis, run the way Argo CD's Procfile runs them outside a cluster.

Binaries come from tools/cluster-tier-tools.sh (`make cluster-tools`), cached by version.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("DATA_STACK_CACHE") or Path.home() / ".cache" / "data-stack-k8s")
BIN = CACHE / "cluster-tier" / "bin"
KUSTOMIZE_BIN = REPO_ROOT / ".cache" / "bin"
ARGOCD_DIR = REPO_ROOT / "clusters" / "kind" / "argocd"
REPO_NAME = "data-stack-k8s.git"
STORAGE_CLASS = "standard"  # kind's default class name
NEEDED = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl", "etcd", "kwok", "kwokctl", "argocd")


class TierError(RuntimeError):
    pass


def missing_binaries() -> list[str]:
    missing = [n for n in NEEDED if not (BIN / n).is_file()]
    if not shutil.which("redis-server"):
        missing.append("redis-server (Debian package redis-server)")
    if not (KUSTOMIZE_BIN / "kustomize").is_file():
        missing.append(".cache/bin/kustomize (make manifest-tools)")
    return missing


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def upstream_pin() -> dict[str, str]:
    pin = {}
    for line in (ARGOCD_DIR / "UPSTREAM").read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            k, v = line.split("=", 1)
            pin[k] = v
    return pin


def verified_argocd_manifest() -> Path:
    """The install manifest tools/manifest-tools.sh took from the argo-cd/v3 Go module."""
    f = REPO_ROOT / ".cache" / "argocd" / upstream_pin()["VERSION"] / "install.yaml"
    if not f.is_file():
        raise TierError(f"{f} is missing: run `make manifest-tools`")
    return f


class Tier:
    def __init__(self, workdir: Path, log: Callable[[str], None] = print):
        self.dir = workdir
        self.log = log
        self.name = f"dsk-{os.getpid()}"
        self.kubeconfig = workdir / "kubeconfig"
        self.argocd_kubeconfig = workdir / "kubeconfig-argocd"
        self.git_dir = workdir / "git"
        self.src = workdir / "served"  # the served tree (Argo CD's manifest swapped in)
        self.checkout = workdir / "checkout"  # the commit as it is, where bootstrap runs
        self.repo_url = ""
        self.procs: dict[str, subprocess.Popen] = {}
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.env = {
            **os.environ,
            "PATH": f"{BIN}:{KUSTOMIZE_BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}",
            "KUBECONFIG": str(self.kubeconfig),
            "KWOK_WORKDIR": str(workdir / "kwok"),
            "KUSTOMIZE": str(KUSTOMIZE_BIN / "kustomize"),
        }

    # ------------------------------------------------------------------ helpers
    def run(self, *cmd: str, check: bool = True, env: dict | None = None, cwd: Path | None = None,
            timeout: float = 300, input: str | None = None) -> subprocess.CompletedProcess:
        p = subprocess.run(list(cmd), capture_output=True, text=True, env=env or self.env,
                           cwd=cwd, timeout=timeout, input=input)
        if check and p.returncode != 0:
            raise TierError(f"{' '.join(cmd[:4])} ... exited {p.returncode}:\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
        return p

    def kubectl(self, *args: str, check: bool = True, input: str | None = None) -> subprocess.CompletedProcess:
        return self.run(str(BIN / "kubectl"), *args, check=check, input=input)

    def get_json(self, *args: str) -> dict:
        return json.loads(self.kubectl("get", *args, "-o", "json").stdout)

    def start(self, name: str, cmd: list[str], env: dict, cwd: Path | None = None) -> subprocess.Popen:
        logf = open(self.dir / f"{name}.log", "w")  # noqa: SIM115 (closed with the process)
        p = subprocess.Popen(cmd, env=env, cwd=cwd or self.dir, stdout=logf, stderr=subprocess.STDOUT,
                             start_new_session=True)
        self.procs[name] = p
        return p

    def log_tail(self, name: str, lines: int = 40) -> str:
        f = self.dir / f"{name}.log"
        return "\n".join(f.read_text(errors="replace").splitlines()[-lines:]) if f.exists() else ""

    # ------------------------------------------------------------ control plane
    def start_control_plane(self) -> None:
        config = self.dir / "kwokctl.yaml"
        # Every server binds to 127.0.0.1 (kwokctl's default is all interfaces).
        config.write_text(
            "apiVersion: config.kwok.x-k8s.io/v1alpha1\nkind: KwokctlConfiguration\n"
            "options:\n  bindAddress: 127.0.0.1\n"
        )
        self.log("tier: starting etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok")
        self.run(
            str(BIN / "kwokctl"), "create", "cluster", "--name", self.name, "--runtime", "binary",
            "--config", str(config), "--kubeconfig", str(self.kubeconfig),
            "--kube-apiserver-binary", str(BIN / "kube-apiserver"),
            "--kube-controller-manager-binary", str(BIN / "kube-controller-manager"),
            "--kube-scheduler-binary", str(BIN / "kube-scheduler"),
            "--etcd-binary", str(BIN / "etcd"), "--kwok-controller-binary", str(BIN / "kwok"),
            "--timeout", "3m",
        )
        # kind-config.yaml: one control plane and one worker.
        self.run(str(BIN / "kwokctl"), "scale", "node", "--name", self.name, "--replicas", "2")
        self.kubectl("apply", "-f", "-", input=json.dumps({
            "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
            "metadata": {"name": STORAGE_CLASS,
                         "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
            "provisioner": "tier.data-stack-k8s.io/hostpath",
            "volumeBindingMode": "Immediate", "reclaimPolicy": "Delete",
        }))
        t = threading.Thread(target=self._provision_claims, daemon=True, name="tier-provisioner")
        t.start()
        self._threads.append(t)

    def _provision_claims(self) -> None:
        """kind's local-path provisioner, reduced to what the tier needs: a PV per pending claim."""
        while not self._stop.wait(1.0):
            with contextlib.suppress(Exception):
                for pvc in self.get_json("pvc", "-A")["items"]:
                    if pvc["status"].get("phase") != "Pending" or pvc["spec"].get("volumeName"):
                        continue
                    if (pvc["spec"].get("storageClassName") or STORAGE_CLASS) != STORAGE_CLASS:
                        continue
                    md = pvc["metadata"]
                    self.kubectl("apply", "-f", "-", check=False, input=json.dumps({
                        "apiVersion": "v1", "kind": "PersistentVolume",
                        "metadata": {"name": f"pv-{md['uid']}"},
                        "spec": {
                            "capacity": {"storage": pvc["spec"]["resources"]["requests"]["storage"]},
                            "accessModes": pvc["spec"]["accessModes"],
                            "storageClassName": STORAGE_CLASS,
                            "persistentVolumeReclaimPolicy": "Delete",
                            "hostPath": {"path": f"/tmp/tier-pv/{md['uid']}"},
                            "claimRef": {"namespace": md["namespace"], "name": md["name"], "uid": md["uid"]},
                        },
                    }))

    # --------------------------------------------------------------- git server
    def serve_commit(self, revision: str = "HEAD") -> str:
        """Serve `revision` of this repository at git://127.0.0.1:<port>/data-stack-k8s.git (branch
        main), with the remote Argo CD manifest replaced by the verified module copy in the served
        tree only. Returns the served commit."""
        pin = upstream_pin()
        self.git_dir.mkdir(parents=True, exist_ok=True)
        bare = self.git_dir / REPO_NAME
        self.run("git", "init", "-q", "--bare", "-b", "main", str(bare))
        commit = self.run("git", "-C", str(REPO_ROOT), "rev-parse", revision).stdout.strip()
        for tree in (self.src, self.checkout):
            self.run("git", "clone", "-q", "--no-hardlinks", str(REPO_ROOT), str(tree))
            self.run("git", "-C", str(tree), "checkout", "-q", "-B", "main", commit)
        kfile = self.src / "clusters" / "kind" / "argocd" / "kustomization.yaml"
        text = kfile.read_text()
        if f"  - {pin['URL']}\n" not in text:
            raise TierError(f"{kfile.relative_to(self.src)} does not list {pin['URL']}")
        kfile.write_text(text.replace(f"  - {pin['URL']}\n", "  - ./upstream-install.yaml\n"))
        shutil.copyfile(verified_argocd_manifest(), kfile.parent / "upstream-install.yaml")
        self.commit("tier: Argo CD's install manifest from its verified module copy (served tree only)")
        port = free_port()
        self.start("git-daemon", ["git", "daemon", "--reuseaddr", "--listen=127.0.0.1", f"--port={port}",
                                  f"--base-path={self.git_dir}", "--export-all", str(self.git_dir)], self.env)
        self.repo_url = f"git://127.0.0.1:{port}/{REPO_NAME}"
        wait_for(lambda: self.run("git", "ls-remote", self.repo_url, check=False).returncode == 0,
                 30, "the git daemon to answer")
        return self.head()

    def commit(self, message: str) -> str:
        """Commit everything changed in the served clone and push it (what `git push` does)."""
        self.run("git", "-C", str(self.src), "add", "-A")
        self.run("git", "-C", str(self.src), "-c", "user.name=tier", "-c", "user.email=tier@127.0.0.1",
                 "commit", "-q", "-m", message)
        self.run("git", "-C", str(self.src), "push", "-q", "--force", str(self.git_dir / REPO_NAME), "main")
        return self.head()

    def head(self) -> str:
        return self.run("git", "-C", str(self.src), "rev-parse", "HEAD").stdout.strip()

    # ---------------------------------------------------------------- bootstrap
    def bootstrap(self) -> subprocess.CompletedProcess:
        """`make up`'s own script, on this control plane, following the served repository."""
        env = {**self.env, "CLUSTER_PROVIDER": "current", "REPO_URL": self.repo_url, "REPO_REVISION": "main",
               "ARGOCD_MANIFEST_FILE": str(verified_argocd_manifest()),
               "KUSTOMIZE": str(KUSTOMIZE_BIN / "kustomize"), "HOME": str(self.dir)}
        self.log("tier: bootstrap/up.sh (CLUSTER_PROVIDER=current)")
        return self.run("bash", str(self.checkout / "bootstrap" / "up.sh"), env=env, cwd=self.checkout, timeout=900)

    # ------------------------------------------------------------------ Argo CD
    def start_argocd(self) -> None:
        shutil.copyfile(self.kubeconfig, self.argocd_kubeconfig)
        self.run(str(BIN / "kubectl"), "--kubeconfig", str(self.argocd_kubeconfig), "config", "set-context",
                 "--current", "--namespace=argocd")
        redis, repo, metrics_c, metrics_r = free_port(), free_port(), free_port(), free_port()
        self.start("redis", ["redis-server", "--bind", "127.0.0.1", "--port", str(redis), "--save", "",
                             "--appendonly", "no", "--protected-mode", "yes"], self.env)
        data = self.dir / "argocd-data"
        for sub in ("tls", "ssh", "gpg/keys", "gpg/source", "tmp"):
            (data / sub).mkdir(parents=True, exist_ok=True)
        env = {
            **self.env,
            "KUBECONFIG": str(self.argocd_kubeconfig),
            "ARGOCD_FAKE_IN_CLUSTER": "true",
            "ARGOCD_TLS_DATA_PATH": str(data / "tls"),
            "ARGOCD_SSH_DATA_PATH": str(data / "ssh"),
            "ARGOCD_GNUPGHOME": str(data / "gpg/keys"),
            "ARGOCD_GPG_DATA_PATH": str(data / "gpg/source"),
            "ARGOCD_GPG_ENABLED": "false",
            "HOME": str(data),
            "TMPDIR": str(data / "tmp"),
        }
        self.start("repo-server", [str(BIN / "argocd"), "--port", str(repo), "--address", "127.0.0.1",
                                   "--metrics-address", "127.0.0.1", "--metrics-port", str(metrics_r),
                                   "--redis", f"127.0.0.1:{redis}", "--loglevel", "info"],
                   {**env, "ARGOCD_BINARY_NAME": "argocd-repo-server"})
        wait_for(lambda: _port_open(repo), 60, "Argo CD's repo-server", lambda: self.log_tail("repo-server"))
        # The StatefulSet's first replica owns shard 0, i.e. every Application.
        self.start("application-controller", [
            str(BIN / "argocd"), "--redis", f"127.0.0.1:{redis}", "--repo-server", f"127.0.0.1:{repo}",
            "--metrics-port", str(metrics_c), "--loglevel", "info", "--app-resync", "60",
        ], {**env, "ARGOCD_BINARY_NAME": "argocd-application-controller",
            "HOSTNAME": "argocd-application-controller-0"})

    # ------------------------------------------------------------- observation
    def applications(self) -> dict[str, dict]:
        return {a["metadata"]["name"]: a for a in self.get_json("applications.argoproj.io", "-n", "argocd")["items"]}

    def refresh(self, name: str, hard: bool = False) -> None:
        self.kubectl("-n", "argocd", "annotate", "--overwrite", f"applications.argoproj.io/{name}",
                     f"argocd.argoproj.io/refresh={'hard' if hard else 'normal'}")

    def events(self) -> list[dict]:
        return self.get_json("events", "-A")["items"]

    # ----------------------------------------------------------------- teardown
    def stop(self) -> None:
        self._stop.set()
        for p in reversed(list(self.procs.values())):
            if p.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGTERM)
                try:
                    p.wait(15)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(p.pid, signal.SIGKILL)
                    p.wait(5)
        if (self.dir / "kwok").exists():
            self.run(str(BIN / "kwokctl"), "delete", "cluster", "--name", self.name,
                     "--kubeconfig", str(self.kubeconfig), check=False, timeout=120)


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def wait_for(cond: Callable[[], object], timeout: float, what: str,
             detail: Callable[[], str] | None = None, every: float = 1.0) -> object:
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TierError(f"timed out after {timeout:.0f}s waiting for {what}" + (f"\n{detail()}" if detail else ""))
        time.sleep(every)


@contextlib.contextmanager
def running_tier(workdir: Path, log: Callable[[str], None] = print) -> Iterator[Tier]:
    tier = Tier(workdir, log)
    try:
        yield tier
    finally:
        tier.stop()
