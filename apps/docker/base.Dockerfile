# The runtime every medallion image shares: Python 3.11, a Java 17 runtime, the pinned
# Python dependencies of apps/pyproject.toml, the exact Spark jar closure of
# apps/jars/jars.lock and the medallion package. Job images and the Jupyter image only
# add an entrypoint (or JupyterLab) on top, so they all run one version lock.
#
# Build context: the repository root (see .dockerignore). Versions are never repeated
# here: Python packages come from apps/pyproject.toml, jars from apps/jars/jars.lock
# (tests/ci/test_version_lock.py checks it). Third-party images are pinned by tag and
# digest; where each digest was found is in /work/team/notes-images-ci.md.
#
#   docker build -f apps/docker/base.Dockerfile -t ghcr.io/data-stack-k8s/data-stack-k8s/base:<tag> .

# --- deps: the project's dependencies only, so a code change never reinstalls them ---------
FROM python:3.11.14-slim-bookworm@sha256:65a93d69fa75478d554f4ad27c85c1e69fa184956261b4301ebaf6dbb0a3543d AS deps
ENV PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /build
COPY apps/pyproject.toml ./
# [project].dependencies, read from pyproject with the standard library (no second copy
# of any version in this file).
RUN python -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))' \
      > requirements.txt \
 && python -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir --requirement requirements.txt

# --- wheel: the medallion package itself (small; rebuilt on every code change) -------------
FROM deps AS wheel
COPY apps/ /build/apps/
RUN /opt/venv/bin/pip wheel --no-cache-dir --no-deps --wheel-dir /wheels /build/apps

# --- jars: resolve the Delta + S3A closure with Maven, verified against jars.lock ----------
# tools/fetch-jars.sh leaves out what pyspark already ships (it reads pyspark's jars
# folder) and fails unless every jar matches its sha256 in apps/jars/jars.lock.
FROM maven:3.9.11-eclipse-temurin-17@sha256:e4a7ace3dc0d645ed97f8d9ad0b0d3f0b14fa8d150138f27f116d7105a639b82 AS jars
COPY apps/jars/pom.xml apps/jars/jars.lock /src/apps/jars/
COPY tools/fetch-jars.sh /src/tools/fetch-jars.sh
RUN --mount=type=bind,from=deps,source=/opt/venv/lib/python3.11/site-packages/pyspark/jars,target=/pyspark-jars \
    --mount=type=cache,target=/root/.m2 \
    MEDALLION_JARS_DIR=/opt/medallion/jars /src/tools/fetch-jars.sh /pyspark-jars

# --- jre: Temurin's Java 17 runtime, copied as a folder (glibc build, runs on Debian) -------
FROM eclipse-temurin:17-jre-noble@sha256:900322f4cc1b9da9d730ae4bb56d8a1dabbaa9cfa32809fc8b542b600370a045 AS jre

# --- base: the runtime image ----------------------------------------------------------------
FROM python:3.11.14-slim-bookworm@sha256:65a93d69fa75478d554f4ad27c85c1e69fa184956261b4301ebaf6dbb0a3543d AS base
# tini as PID 1: forwards SIGTERM to the job (Python ignores it as PID 1) and reaps the JVM.
# A passwd entry for uid 10001: Hadoop's UserGroupInformation fails without a user name.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install --yes --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 10001 medallion \
 && useradd --uid 10001 --gid 10001 --home-dir /tmp --no-create-home --shell /usr/sbin/nologin medallion

COPY --from=jre /opt/java/openjdk /opt/java/openjdk
COPY --from=deps /opt/venv /opt/venv
COPY --from=jars /opt/medallion/jars /opt/medallion/jars

# Everything a pod writes goes to /tmp (an emptyDir when readOnlyRootFilesystem is set):
# HOME (Ivy, Jupyter, pip), Spark's scratch space, matplotlib's cache, the JVM's perf data.
ENV JAVA_HOME=/opt/java/openjdk \
    PATH=/opt/venv/bin:/opt/java/openjdk/bin:$PATH \
    MEDALLION_JARS_DIR=/opt/medallion/jars \
    PYSPARK_PYTHON=/opt/venv/bin/python \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    SPARK_LOCAL_DIRS=/tmp/spark \
    MPLCONFIGDIR=/tmp/matplotlib \
    TZ=UTC
RUN --mount=type=bind,from=wheel,source=/wheels,target=/wheels \
    /opt/venv/bin/pip install --no-cache-dir --no-deps --no-index /wheels/medallion-*.whl

# The driver JVM's class-data-sharing archive: every stage pod starts a fresh driver JVM,
# and mapping the classes a training run of the stages loaded saves 13-20% of a stage
# (bench/README.md). A dynamic archive is valid only for the JVM and class path it was
# written with, paths included, so it is built here, in this stage, by the builder
# `make cds` runs too (medallion.common.cds: a tiny synthetic lake, nothing downloaded).
# SPARK_CDS_ARCHIVE names a file that exists, so a pod only maps it (read-only root
# filesystem): no JVM ever writes it at runtime. Adds the archive's size (~200 MiB) to
# the image. Built where Docker is: the images and e2e workflows on GitHub Actions.
# A dynamic archive sits on the JVM's default one (lib/server/classes.jsa); some Temurin
# builds ship none, and -Xshare:dump writes it.
RUN { test -f "$JAVA_HOME/lib/server/classes.jsa" || java -Xshare:dump; } \
 && mkdir /tmp/cds-build \
 && HOME=/tmp/cds-build TMPDIR=/tmp/cds-build SPARK_LOCAL_DIRS=/tmp/cds-build/spark \
    python -m medallion.common.cds build /opt/medallion/cds/driver.jsa \
 && rm -rf /tmp/cds-build /tmp/hsperfdata_root
ENV SPARK_CDS_ARCHIVE=/opt/medallion/cds/driver.jsa
WORKDIR /tmp
USER 10001:10001
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["medallion", "--help"]

# Last, so a new revision never invalidates a cached layer.
ARG VERSION=dev
ARG REVISION=unknown
# set by tools/build-images.sh and the images workflow from the git remote
ARG SOURCE=""
LABEL org.opencontainers.image.title="medallion-base" \
      org.opencontainers.image.description="Python 3.11, Java 17, pyspark + Delta + S3A jars, the medallion package" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.version="${VERSION}"
