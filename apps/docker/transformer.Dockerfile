# The transformer job: `transform --start YYYY-MM-DD --end YYYY-MM-DD` (or `--date YYYY-MM-DD`).
# Only an entrypoint on top of the shared base image (same layers, same version lock);
# tools/build-images.sh and .github/workflows/images.yml pass BASE_IMAGE, the base image
# built from the same commit.
#
#   docker build -f apps/docker/transformer.Dockerfile --build-arg BASE_IMAGE=<base ref> \
#     -t ghcr.io/data-stack-k8s/data-stack-k8s/transformer:<tag> .
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
USER 10001:10001
ENTRYPOINT ["/usr/bin/tini", "--", "transform"]
CMD ["--help"]

ARG VERSION=dev
ARG REVISION=unknown
# set by tools/build-images.sh and the images workflow from the git remote
ARG SOURCE=""
LABEL org.opencontainers.image.title="medallion-transformer" \
      org.opencontainers.image.description="types, checks and de-duplicates bronze into silver (Delta)" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.version="${VERSION}"
