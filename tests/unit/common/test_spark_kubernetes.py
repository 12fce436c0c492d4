"""SPARK_MASTER=k8s://...: the client-mode driver's settings, its errors, the executor pod
template and the executor's command line."""

from __future__ import annotations

from importlib import resources

import pytest
import yaml

from medallion.common.config import ConfigError, load_config
from medallion.common.spark import spark_conf
from medallion.common.spark_kubernetes import executor_command, kubernetes_conf

DRIVER = {
    "POD_NAMESPACE": "medallion",
    "POD_NAME": "medallion-transform-x1",
    "POD_IP": "10.244.1.7",
    "SPARK_K8S_IMAGE": "ghcr.io/o/r/transformer:abc",
}


def test_the_driver_runs_its_executors_beside_it():
    conf = kubernetes_conf(DRIVER)
    assert conf["spark.kubernetes.namespace"] == "medallion"
    assert conf["spark.kubernetes.container.image"] == "ghcr.io/o/r/transformer:abc"
    assert conf["spark.kubernetes.driver.pod.name"] == "medallion-transform-x1"
    assert conf["spark.driver.host"] == "10.244.1.7"
    assert conf["spark.executor.instances"] == "2"
    assert conf["spark.kubernetes.authenticate.oauthTokenFile"] == "/var/run/secrets/kubernetes.io/serviceaccount/token"


@pytest.mark.parametrize("missing", sorted(DRIVER))
def test_a_missing_driver_setting_is_named(missing):
    env = {k: v for k, v in DRIVER.items() if k != missing}
    with pytest.raises(ConfigError, match=missing):
        kubernetes_conf(env)


def test_a_bad_executor_count_is_named():
    with pytest.raises(ConfigError, match="SPARK_EXECUTOR_INSTANCES"):
        kubernetes_conf({**DRIVER, "SPARK_EXECUTOR_INSTANCES": "zero"})


def test_local_mode_sets_nothing_of_kubernetes(tmp_path, monkeypatch):
    jars = tmp_path / "jars"
    jars.mkdir()
    (jars / "delta-spark_2.13-4.3.1.jar").write_text("")
    cfg = load_config({"LAKE_ROOT": str(tmp_path / "lake"), "MEDALLION_JARS_DIR": str(jars)})
    assert not [k for k in spark_conf(cfg, "t") if k.startswith("spark.kubernetes.")]
    monkeypatch.setattr("os.environ", {**DRIVER})
    cfg = load_config({"LAKE_ROOT": str(tmp_path / "lake"), "MEDALLION_JARS_DIR": str(jars),
                       "SPARK_MASTER": "k8s://https://kubernetes.default.svc"})
    assert spark_conf(cfg, "t")["spark.kubernetes.namespace"] == "medallion"


def test_the_executor_template_meets_the_restricted_profile():
    pod = yaml.safe_load(resources.files("medallion.common").joinpath("executor-pod-template.yaml").read_text())
    spec = pod["spec"]
    assert spec["automountServiceAccountToken"] is False
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (c,) = spec["containers"]
    assert c["securityContext"]["allowPrivilegeEscalation"] is False
    assert c["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert c["command"] == ["medallion-spark-executor"]


def test_the_executor_command_is_sparks_executor_backend():
    env = {"SPARK_DRIVER_URL": "spark://CoarseGrainedScheduler@10.0.0.1:7078", "SPARK_EXECUTOR_ID": "3",
           "SPARK_APPLICATION_ID": "spark-app", "SPARK_EXECUTOR_POD_IP": "10.0.0.9",
           "SPARK_EXECUTOR_MEMORY": "1g", "SPARK_JAVA_OPT_0": "-Dspark.driver.port=7078",
           "JAVA_HOME": "/opt/java/openjdk", "MEDALLION_JARS_DIR": "/opt/medallion/jars"}
    cmd = executor_command(env)
    assert cmd[0] == "/opt/java/openjdk/bin/java"
    assert "org.apache.spark.scheduler.cluster.k8s.KubernetesExecutorBackend" in cmd
    assert cmd[cmd.index("--driver-url") + 1] == env["SPARK_DRIVER_URL"]
    assert cmd[cmd.index("--executor-id") + 1] == "3"
    assert "-Dspark.driver.port=7078" in cmd and "-Xmx1g" in cmd
    assert cmd[cmd.index("-cp") + 1].endswith("/opt/medallion/jars/*")
