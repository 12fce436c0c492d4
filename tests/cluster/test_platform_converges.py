"""The stack as Argo CD really syncs it: a real control plane (PodSecurity admission on),
Argo CD's own application-controller and repo-server at the deployed version, bootstrapped by
`make up`'s script from a git server that serves the commit under test.

The tests run in file order: the first ones read the converged stack, the last ones push
commits (an image tag bump, a removed manifest) and watch Argo CD carry them out.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import dag_harness
import tier as t
from conftest import summary, wait_converged

APPLICATIONS = {"root", "argocd", "namespaces", "minio", "postgres", "airflow", "medallion", "metabase", "jupyter"}
WAVE = "argocd.argoproj.io/sync-wave"


def ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_bootstrap_is_make_ups_own_script(tier):
    out = tier.bootstrap_result.stdout
    assert "using the cluster of context" in out and "applying the root Application" in out, out[-2000:]
    assert "building the job and Jupyter images" not in out, "the image step needs Docker and is kind's only"


def test_every_application_is_synced_and_healthy_at_the_commit_under_test(tier, converged):
    assert set(converged) == APPLICATIONS
    for name, app in converged.items():
        assert app["status"]["sync"]["revision"] == tier.head(), name


def test_sync_waves_gate_in_the_order_the_readme_states(tier, converged):
    """An Application of a later wave starts its first sync only after every Application of an
    earlier wave finished its own (hooks included): the database is up and its roles Job done
    before Airflow's migration Job exists."""
    first = {}
    for name, app in converged.items():
        if name == "root":
            continue
        history = app["status"].get("history") or []
        assert history, f"{name} has no sync history"
        wave = int(app["metadata"].get("annotations", {}).get(WAVE, "0"))
        first[name] = (wave, ts(history[0]["deployStartedAt"]), ts(history[0]["deployedAt"]))
    problems = [
        f"{later} (wave {wl}) started {sl:%H:%M:%S} before {earlier} (wave {we}) finished {fe:%H:%M:%S}"
        for earlier, (we, _, fe) in first.items()
        for later, (wl, sl, _) in first.items()
        if wl > we and sl < fe
    ]
    assert not problems, "\n".join(problems)
    migrate = tier.get_json("job", "-n", "airflow", "airflow-db-migrate")
    roles_done = first["postgres"][2]
    assert ts(migrate["metadata"]["creationTimestamp"]) >= roles_done, (
        "Airflow's migration Job was created before the database Application finished"
    )


def test_no_controller_reports_failed_create(tier, converged):
    """PodSecurity "restricted", ResourceQuota and LimitRange all admitted every pod. (A pod may
    wait a moment for its claim to be bound, as with any provisioner: FailedScheduling is not
    counted; test_every_workload_is_ready shows every pod ended up running.)"""
    bad = [
        f"{e['involvedObject']['namespace']}/{e['involvedObject']['kind']}/{e['involvedObject']['name']}: {e['message']}"
        for e in tier.events()
        if e.get("reason") in ("FailedCreate", "ProvisioningFailed")
    ]
    assert not bad, "\n".join(bad)


def test_hooks_and_jobs_complete(tier, converged):
    jobs = tier.get_json("jobs", "-A")["items"]
    assert {j["metadata"]["name"] for j in jobs} >= {"postgres-roles", "airflow-db-migrate"}
    incomplete = [
        f"{j['metadata']['namespace']}/{j['metadata']['name']}"
        for j in jobs
        if not any(c["type"] == "Complete" and c["status"] == "True" for c in j["status"].get("conditions") or [])
    ]
    assert not incomplete, incomplete


def test_every_workload_is_ready(tier, converged):
    not_ready = []
    for kind in ("deployments", "statefulsets"):
        for o in tier.get_json(kind, "-A")["items"]:
            want = o["spec"].get("replicas", 1)
            if want and o["status"].get("readyReplicas", 0) < want:
                not_ready.append(f"{kind}/{o['metadata']['namespace']}/{o['metadata']['name']}")
    assert not not_ready, not_ready


def test_a_second_reconcile_finds_nothing_out_of_sync(tier, converged):
    before = {n: a["status"].get("reconciledAt") for n, a in converged.items()}
    for name in converged:
        tier.refresh(name, hard=True)

    def reconciled():
        apps = tier.applications()
        return all(apps[n]["status"].get("reconciledAt") != before[n] for n in apps) and apps

    apps = t.wait_for(reconciled, 300, "a hard refresh of every Application", lambda: summary(tier), every=3)
    drift = {
        n: [r for r in a["status"].get("resources") or [] if r.get("status") != "Synced"]
        for n, a in apps.items()
        if a["status"]["sync"]["status"] != "Synced"
    }
    assert not drift, json.dumps(drift, indent=1)[:4000]


def test_the_pods_the_dag_builds_are_admitted_next_to_the_running_stack(tier, converged, tmp_path):
    """Each stage pod exactly as the DAG's KubernetesPodOperator builds it, created in the jobs
    namespace of the running stack: PodSecurity, the ResourceQuota and the LimitRange admit it."""
    images = tier.get_json("configmap", "-n", "airflow", "medallion-images")["data"]
    case = {"id": "tier", "dag_id": "market_data", "logical_date": "2024-03-05T22:30:00+00:00"}
    report = dag_harness.dag_report(images, [case], tmp_path)
    tasks = report["renders"][0]["tasks"]

    def create(pod: dict, prefix: str) -> str:
        pod = json.loads(json.dumps(pod))
        pod["metadata"].pop("name", None)
        pod["metadata"]["generateName"] = prefix
        out = tier.kubectl("create", "-o", "name", "-f", "-", check=False, input=json.dumps(pod))
        assert out.returncode == 0, f"{prefix}: the API server refused the DAG's pod:\n{out.stderr}"
        name = out.stdout.strip()
        t.wait_for(lambda: tier.get_json("-n", "medallion", name)["status"].get("phase") in ("Running", "Succeeded"),
                   120, f"{name} to be scheduled and started")
        return name

    # One stage after the other, as the DAG runs them.
    for task_id, entry in tasks.items():
        name = create(entry["pod"], f"tier-{task_id}-")
        tier.kubectl("-n", "medallion", "delete", name, "--wait=true")
    # The quota leaves room for two at once (a retried task whose first try still runs).
    both = [create(tasks["transform"]["pod"], "tier-overlap-") for _ in range(2)]
    for name in both:
        tier.kubectl("-n", "medallion", "delete", name, "--wait=true")


# ------------------------------------------------------------------ changes pushed to git


def refresh_all(tier: t.Tier) -> None:
    """What a git webhook does after a push (without one Argo CD polls every 60 s, as on kind):
    every Application looks at the new commit now."""
    for name in tier.applications():
        tier.refresh(name)


def test_a_tag_bump_commit_reaches_the_deployment_and_the_dags_image_configmap(tier, converged):
    """What CI's tag bump does (tools/image_tags.py set), pushed to the served repository."""
    tag = "0.1.0-tier"
    tier.run(sys.executable, str(tier.src / "tools" / "image_tags.py"), "set", tag, cwd=tier.src)
    tier.commit(f"bump images to {tag}")
    refresh_all(tier)

    def rolled_out():
        dep = tier.get_json("deployment", "-n", "jupyter", "jupyter")
        images = [c["image"] for c in dep["spec"]["template"]["spec"]["containers"]]
        cm = tier.get_json("configmap", "-n", "airflow", "medallion-images")["data"]
        return all(i.endswith(f":{tag}") for i in images if "data-stack-k8s" in i) and all(
            v.endswith(f":{tag}") for v in cm.values()
        )

    t.wait_for(rolled_out, 300, f"the Jupyter Deployment and the DAG's image ConfigMap at {tag}", lambda: summary(tier), every=3)
    wait_converged(tier, 300)


def test_a_removed_manifest_is_pruned(tier, converged):
    kfile = tier.src / "base" / "jupyter" / "kustomization.yaml"
    text = kfile.read_text()
    line = "  - ./networkpolicy-allow-dns.yaml\n"
    assert line in text
    policy = tier.get_json("networkpolicy", "-n", "jupyter")["items"]
    names = {p["metadata"]["name"] for p in policy}
    kfile.write_text(text.replace(line, ""))
    tier.commit("drop Jupyter's DNS NetworkPolicy")
    refresh_all(tier)

    def pruned():
        now = {p["metadata"]["name"] for p in tier.get_json("networkpolicy", "-n", "jupyter")["items"]}
        return len(now) == len(names) - 1 and now < names

    t.wait_for(pruned, 300, "the removed NetworkPolicy to be pruned", lambda: summary(tier), every=3)
    wait_converged(tier, 300)


def test_argo_cd_ran_at_the_deployed_version(tier, converged):
    """One binary serves every Argo CD component (by ARGOCD_BINARY_NAME): its version is the pin."""
    version = t.upstream_pin()["VERSION"]
    out = tier.run(str(t.BIN / "argocd"), "version", "--client", "--short",
                   env={**tier.env, "ARGOCD_BINARY_NAME": "argocd"})
    assert out.stdout.strip().startswith(f"argocd: {version}+"), out.stdout


def test_each_ui_application_links_to_its_ui(tier, converged):
    """Argo CD's external-link annotations reach each Application's summary (the UI's link)."""
    want = {
        "airflow": "http://localhost:30080",
        "minio": "http://localhost:30901",
        "metabase": "http://localhost:30300",
        "jupyter": "http://localhost:30888/lab",
    }
    apps = tier.applications()
    got = {n: (apps[n]["status"].get("summary") or {}).get("externalURLs") or [] for n in want}
    assert all(want[n] in got[n] for n in want), got


def test_spark_on_kubernetes_is_one_overlay_setting_and_its_executors_are_admitted(tier, converged, tmp_path):
    """Push the overlay change that switches Spark to its Kubernetes scheduler; Argo CD syncs the
    component (Role, token, quota, SPARK_MASTER). Then a stage pod as the DAG builds it stands
    for the driver's pod, and a real Spark driver (local process, the job code's own session
    builder) authenticates with that ServiceAccount's token and asks for its executors: they
    are created with the restricted template, owned by the driver pod, and admitted."""
    kfile = tier.src / "overlays" / "kind" / "medallion" / "kustomization.yaml"
    text = kfile.read_text()
    kfile.write_text(text.replace(
        "# components:\n#   - ../../../base/components/spark-on-kubernetes\n",
        "components:\n  - ../../../base/components/spark-on-kubernetes\n",
    ))
    assert kfile.read_text() != text, "the overlay has no commented switch for the component"
    tier.commit("Spark on Kubernetes")
    refresh_all(tier)
    t.wait_for(
        lambda: tier.get_json("configmap", "-n", "medallion", "medallion-config")["data"]["SPARK_MASTER"].startswith("k8s://"),
        300, "the medallion Application to sync the component", lambda: summary(tier), every=3,
    )
    wait_converged(tier, 300)

    images = tier.get_json("configmap", "-n", "airflow", "medallion-images")["data"]
    case = {"id": "tier", "dag_id": "market_data", "logical_date": "2024-03-05T22:30:00+00:00"}
    pod = dag_harness.dag_report(images, [case], tmp_path)["renders"][0]["tasks"]["transform"]["pod"]
    pod["metadata"].pop("name", None)
    pod["metadata"]["generateName"] = "tier-driver-"
    driver = tier.kubectl("create", "-o", "jsonpath={.metadata.name}", "-f", "-", input=json.dumps(pod)).stdout
    sa_dir = tmp_path / "serviceaccount"
    sa_dir.mkdir()
    (sa_dir / "token").write_text(tier.kubectl("-n", "medallion", "create", "token", "medallion-job").stdout.strip())
    kubeconfig = tier.kubeconfig.read_text()
    ca = re.search(r"certificate-authority: (\S+)", kubeconfig).group(1)
    (sa_dir / "ca.crt").write_text(Path(ca).read_text())
    server = re.search(r"server: (\S+)", kubeconfig).group(1)
    env = {
        **os.environ,
        "LAKE_ROOT": str(tmp_path / "lake"),
        "SPARK_MASTER": f"k8s://{server}",
        "POD_NAME": driver,
        "POD_NAMESPACE": "medallion",
        "POD_IP": "127.0.0.1",
        "SPARK_K8S_IMAGE": pod["spec"]["containers"][0]["image"],
        "SPARK_K8S_SERVICEACCOUNT_DIR": str(sa_dir),
    }
    script = "from medallion.common.config import load_config\nfrom medallion.common.spark import build_spark_session\n" \
             "import time\nbuild_spark_session(load_config())\ntime.sleep(600)\n"
    proc = subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        def executors():
            pods = tier.get_json("pods", "-n", "medallion", "-l", "spark-role=executor")["items"]
            return len(pods) >= 2 and all(p["status"].get("phase") == "Running" for p in pods) and pods

        def driver_log():
            return f"driver exit {proc.poll()}"

        pods = t.wait_for(executors, 240, "two executor pods created and running", driver_log, every=3)
    finally:
        os.killpg(proc.pid, 9)
        proc.wait(30)
        tier.kubectl("-n", "medallion", "delete", "pod", driver, "--wait=false", check=False)
    for p in pods:
        assert [o["name"] for o in p["metadata"]["ownerReferences"]] == [driver]
        assert p["spec"]["automountServiceAccountToken"] is False
        assert p["spec"]["securityContext"]["runAsNonRoot"] is True
        assert p["spec"]["containers"][0]["command"] == ["medallion-spark-executor"]
    refused = [e["message"] for e in tier.events() if e.get("reason") == "FailedCreate"]
    assert not refused, refused
