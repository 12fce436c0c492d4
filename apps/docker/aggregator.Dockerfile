# The aggregator job: `aggregate --start YYYY-MM-DD --end YYYY-MM-DD` (or `--date YYYY-MM-DD`).
# Only an entrypoint on top of the shared base image (same layers, same version lock);
# tools/build-images.sh and .github/workflows/images.yml pass BASE_IMAGE, the base image
# built from the same commit.
#
#   docker build -f apps/docker/aggregator.Dockerfile --build-arg BASE_IMAGE=<base ref> \
#     -t ghcr.io/data-stack-k8s/data-stack-k8s/aggregator:<tag> .
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
USER 10001:10001
# The same image runs the publish stage: override the command, e.g. KubernetesPodOperator
# cmds=["/usr/bin/tini", "--", "publish"] (or cmds=["publish"]) with the same arguments.
ENTRYPOINT ["/usr/bin/tini", "--", "aggregate"]
CMD ["--help"]

ARG VERSION=dev
ARG REVISION=unknown
# set by tools/build-images.sh and the images workflow from the git remote
ARG SOURCE=""
LABEL org.opencontainers.image.title="medallion-aggregator" \
      org.opencontainers.image.description="computes gold from silver; also runs `publish` (gold to PostgreSQL)" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.version="${VERSION}"
