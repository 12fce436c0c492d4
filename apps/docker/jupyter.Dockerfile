# JupyterLab on the jobs' base image: notebooks import pyspark, Delta and the medallion
# package at exactly the versions the jobs run. JupyterLab itself is pinned in the
# `jupyter` dependency group of apps/pyproject.toml (read here, never repeated).
#
#   docker build -f apps/docker/jupyter.Dockerfile --build-arg BASE_IMAGE=<base ref> \
#     -t ghcr.io/data-stack-k8s/data-stack-k8s/jupyter:<tag> .
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
USER 0:0
COPY apps/pyproject.toml /tmp/pyproject.toml
# The group's requirements are installed with the base's resolved packages as
# constraints, so JupyterLab can never move pyspark, delta-spark or any other job pin.
RUN python -c 'import tomllib; print("\n".join(tomllib.load(open("/tmp/pyproject.toml", "rb"))["dependency-groups"]["jupyter"]))' \
      > /tmp/jupyter.txt \
 && pip freeze --exclude medallion > /tmp/constraints.txt \
 && pip install --no-cache-dir --requirement /tmp/jupyter.txt --constraint /tmp/constraints.txt \
 && rm -f /tmp/pyproject.toml /tmp/jupyter.txt /tmp/constraints.txt \
 && mkdir -p /home/jupyter/work \
 && chown -R 10001:10001 /home/jupyter

# The pod mounts its work volume at /home/jupyter and an emptyDir at /tmp; runtime files
# (kernels' connection files, the server's cookie secret) live in /tmp.
ENV HOME=/home/jupyter \
    JUPYTER_RUNTIME_DIR=/tmp/jupyter-runtime
WORKDIR /home/jupyter/work
USER 10001:10001
EXPOSE 8888
CMD ["jupyter", "lab", "--ip=0.0.0.0", "--port=8888", "--no-browser", "--ServerApp.root_dir=/home/jupyter/work"]

ARG VERSION=dev
ARG REVISION=unknown
# set by tools/build-images.sh and the images workflow from the git remote
ARG SOURCE=""
LABEL org.opencontainers.image.title="medallion-jupyter" \
      org.opencontainers.image.description="JupyterLab on the medallion base image (same Spark, Delta and jar closure as the jobs)" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.version="${VERSION}"
