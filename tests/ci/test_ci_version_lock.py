"""One version lock: pyproject, the jar list, the installed pyspark and every image agree.

The images never repeat a version: the base installs [project].dependencies from
apps/pyproject.toml and the jar closure from apps/jars/jars.lock; the Jupyter image
installs the `jupyter` dependency group with the base's packages as constraints.
"""

from __future__ import annotations

import re
import tomllib
import xml.etree.ElementTree as ET
from importlib import metadata
from pathlib import Path

import pytest
from conftest import DOCKER_DIR, REPO_ROOT

POM_NS = {"m": "http://maven.apache.org/POM/4.0.0"}


def pins() -> dict[str, str]:
    project = tomllib.loads((REPO_ROOT / "apps/pyproject.toml").read_text())["project"]
    found = {}
    for req in project["dependencies"]:
        m = re.fullmatch(r"([A-Za-z0-9_.-]+)(\[[^\]]+\])?==([\w.]+)", req.replace(" ", ""))
        assert m, f"pyproject dependency {req!r} is not pinned exactly (==)"
        found[m.group(1).lower()] = m.group(3)
    return found


def pom() -> tuple[dict[str, str], list[tuple[str, str, str]]]:
    root = ET.parse(REPO_ROOT / "apps/jars/pom.xml").getroot()
    props = {el.tag.split("}")[1]: el.text for el in root.find("m:properties", POM_NS)}
    deps = []
    for dep in root.findall("m:dependencies/m:dependency", POM_NS):
        version = dep.findtext("m:version", namespaces=POM_NS)
        version = re.sub(r"\$\{([^}]+)\}", lambda m: props[m.group(1)], version)
        deps.append(
            (
                dep.findtext("m:groupId", namespaces=POM_NS),
                dep.findtext("m:artifactId", namespaces=POM_NS),
                version,
            )
        )
    return props, deps


def lock_jars() -> set[str]:
    lines = (REPO_ROOT / "apps/jars/jars.lock").read_text().split("\n")
    return {line.split()[1] for line in lines if line.strip()}


def pyspark_jars_dir() -> Path:
    import pyspark

    return Path(pyspark.__file__).parent / "jars"


def test_pyproject_pins_pyspark_and_delta():
    p = pins()
    assert "pyspark" in p and "delta-spark" in p


def test_installed_venv_matches_the_pins():
    for name in ("pyspark", "delta-spark"):
        assert metadata.version(name) == pins()[name], (
            f"{name}: .venv differs from apps/pyproject.toml"
        )


def test_delta_jar_matches_the_python_package_and_spark_minor():
    p = pins()
    spark_minor = ".".join(p["pyspark"].split(".")[:2])
    _, deps = pom()
    delta = [d for d in deps if d[0] == "io.delta"]
    assert delta == [("io.delta", f"delta-spark_{spark_minor}_2.13", p["delta-spark"])]
    jars = lock_jars()
    assert f"delta-spark_{spark_minor}_2.13-{p['delta-spark']}.jar" in jars
    assert f"delta-storage-{p['delta-spark']}.jar" in jars


def test_hadoop_aws_equals_the_hadoop_that_pyspark_ships():
    shipped = sorted(pyspark_jars_dir().glob("hadoop-client-api-*.jar"))
    assert len(shipped) == 1, shipped
    hadoop = shipped[0].name.removeprefix("hadoop-client-api-").removesuffix(".jar")
    props, deps = pom()
    assert props["hadoop.version"] == hadoop
    assert ("org.apache.hadoop", "hadoop-aws", hadoop) in deps
    assert f"hadoop-aws-{hadoop}.jar" in lock_jars()


def test_lock_adds_nothing_pyspark_already_ships():
    def artifact(name: str) -> str:
        return re.sub(r"-[0-9][0-9A-Za-z.+_-]*\.jar$", "", name)

    shipped = {artifact(p.name) for p in pyspark_jars_dir().glob("*.jar")}
    duplicated = {j for j in lock_jars() if artifact(j) in shipped}
    assert not duplicated, f"jars.lock repeats jars pyspark ships: {duplicated}"
    assert len([j for j in lock_jars() if j.startswith("bundle-")]) == 1  # one AWS SDK bundle


@pytest.mark.parametrize("path", sorted(DOCKER_DIR.glob("*.Dockerfile")), ids=lambda p: p.name)
def test_dockerfiles_repeat_no_version(path):
    body = "\n".join(
        line for line in path.read_text().splitlines() if not line.lstrip().startswith("#")
    )
    # FROM lines carry image tags; everything else must not pin a package.
    body = "\n".join(line for line in body.splitlines() if not line.startswith("FROM"))
    assert not re.search(r"[A-Za-z0-9_-]+(\[[^\]]*\])?(==|~=|>=)\d", body), (
        "a pip pin in a Dockerfile"
    )
    assert not re.search(r"\w=\d[\w.:+~-]*-\d", body), "an apt version pin in a Dockerfile"
    for name, version in pins().items():
        assert f"{name}=={version}" not in body
    for jar in lock_jars():
        assert jar not in body


def test_images_install_from_pyproject_and_jars_lock():
    base = (DOCKER_DIR / "base.Dockerfile").read_text()
    assert '["project"]["dependencies"]' in base and "COPY apps/pyproject.toml" in base
    assert "apps/jars/jars.lock" in base and "tools/fetch-jars.sh" in base
    jupyter = (DOCKER_DIR / "jupyter.Dockerfile").read_text()
    assert '["dependency-groups"]["jupyter"]' in jupyter
    assert "--constraint" in jupyter and "pip freeze" in jupyter
    for job in ("ingestor", "transformer", "aggregator", "jupyter"):
        assert re.search(
            r"^FROM \$\{BASE_IMAGE\}$", (DOCKER_DIR / f"{job}.Dockerfile").read_text(), re.M
        )


def test_jupyter_group_is_pinned_and_never_repins_the_jobs():
    groups = tomllib.loads((REPO_ROOT / "apps/pyproject.toml").read_text()).get(
        "dependency-groups", {}
    )
    assert "jupyter" in groups, (
        'apps/pyproject.toml needs a `jupyter` dependency group (e.g. jupyter = ["jupyterlab==4.6.6"]): '
        "the Jupyter image installs it"
    )
    names = set()
    for req in groups["jupyter"]:
        assert isinstance(req, str), "include-group is not read by the Jupyter image"
        m = re.fullmatch(r"([A-Za-z0-9_.-]+)(\[[^\]]+\])?==[\w.]+", req.replace(" ", ""))
        assert m, f"jupyter group entry {req!r} is not pinned exactly (==)"
        names.add(m.group(1).lower())
    assert "jupyterlab" in names
    assert not names & set(pins()), "the jupyter group re-pins a job dependency"


def _shell_pin(path: Path, name: str) -> str:
    m = re.search(rf"^{name}=(\S+)", path.read_text(), flags=re.M)
    assert m, f"{path.relative_to(REPO_ROOT)} does not set {name}"
    return m.group(1)


def test_the_tested_argo_cd_is_the_deployed_one():
    """The control-plane tier builds Argo CD at the version bootstrap installs and Argo CD syncs."""
    tier = REPO_ROOT / "tools" / "cluster-tier-tools.sh"
    deployed = _shell_pin(REPO_ROOT / "clusters" / "kind" / "argocd" / "UPSTREAM", "VERSION")
    assert _shell_pin(tier, "ARGOCD_VERSION") == deployed


def test_the_tier_runs_the_kind_nodes_kubernetes_minor():
    node = re.search(r"kindest/node:v(\d+\.\d+)\.\d+@", (REPO_ROOT / "kind-config.yaml").read_text())
    assert node, "kind-config.yaml pins no kindest/node:vX.Y.Z@sha256:..."
    tier = _shell_pin(REPO_ROOT / "tools" / "cluster-tier-tools.sh", "KUBERNETES_VERSION")
    assert tier.startswith(f"v{node.group(1)}."), f"tier {tier} vs kind node v{node.group(1)}"


def test_testcontainers_run_the_cluster_images_pinned_by_digest():
    """With a Docker engine, the tests run the very images base/ deploys (tag + digest)."""
    tests_conftest = (REPO_ROOT / "tests/conftest.py").read_text()
    pinned = {
        name: "".join(re.findall(r'"([^"]*)"', body))
        for name, body in re.findall(
            r"^(\w+_TEST_IMAGE) = \(\n(.*?)\n\)", tests_conftest, re.M | re.S
        )
    }
    deployed = {
        "MINIO_TEST_IMAGE": (REPO_ROOT / "base/minio/deployment.yaml").read_text(),
        "POSTGRES_TEST_IMAGE": (REPO_ROOT / "base/postgres/statefulset.yaml").read_text(),
    }
    assert set(pinned) == set(deployed)
    for name, image in pinned.items():
        assert re.fullmatch(r"[\w./-]+:[\w.-]+@sha256:[0-9a-f]{64}", image), f"{name}={image}"
        assert re.search(rf"image: {re.escape(image)}\s", deployed[name]), (
            f"{name}={image} is not the image base/ deploys"
        )
    assert "PostgresContainer(POSTGRES_TEST_IMAGE" in tests_conftest
    assert 'os.environ.get("MINIO_TEST_IMAGE", MINIO_TEST_IMAGE)' in tests_conftest
