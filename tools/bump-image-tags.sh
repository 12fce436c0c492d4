#!/usr/bin/env bash
# Point every deployed reference to this repository's images at a new tag: the kustomize
# `images:` newTag entries and the Airflow job-image file (overlays/kind/airflow/images.env)
# that the DAG reads. CI's images workflow runs it after pushing the images, then commits
# the result, so Argo CD rolls out what was just built ("git push to deploy").
#
# usage: tools/bump-image-tags.sh TAG        e.g. tools/bump-image-tags.sh "$GITHUB_SHA"
#        tools/bump-image-tags.sh --check    print every reference and the tag they share
#
# tools/image_tags.py finds the references (PyYAML) and changes them with
# `kustomize edit set image` ($KUSTOMIZE or .cache/bin/kustomize) and a plain edit of .env files.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# the project venv has PyYAML, which tools/image_tags.py reads the overlays with
PYTHON="${PYTHON:-$([[ -x .venv/bin/python ]] && echo .venv/bin/python || echo python3)}"

case "${1:-}" in
  "" | -h | --help)
    sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'
    [[ -n "${1:-}" ]]; exit $? ;;
  --check)
    "$PYTHON" tools/image_tags.py list
    current="$("$PYTHON" tools/image_tags.py current)"
    echo "bump-image-tags: every reference is at $current"
    exit 0 ;;
esac

tag="$1"
before="$("$PYTHON" tools/image_tags.py current)"
changed="$("$PYTHON" tools/image_tags.py set "$tag")"
if [[ -z "$changed" ]]; then
  echo "bump-image-tags: already at $tag, nothing to change"
else
  echo "bump-image-tags: $before -> $tag in:"
  while IFS= read -r file; do echo "  $file"; done <<<"$changed"
fi
