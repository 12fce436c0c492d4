#!/usr/bin/env bash
# Resolve the Spark jar closure (Delta Lake + S3A) with Maven into $MEDALLION_JARS_DIR.
#
# Spark never downloads jars at start: this runs once (make setup, .ci/run, the image
# build) and is a no-op when the directory already matches apps/jars/jars.lock.
# Jars that pyspark already ships (Hadoop client, Parquet, Jackson, Log4j, Scala...)
# are left out so that exactly one version of each is on the classpath.
#
# usage: tools/fetch-jars.sh [PYSPARK_JARS_DIR]     (default: the venv's pyspark/jars)
#        tools/fetch-jars.sh --update-lock          (re-resolve and rewrite jars.lock)
set -euo pipefail

repo_root="$(cd "$(dirname "$0")/.." && pwd)"
jars_dir="${MEDALLION_JARS_DIR:-$repo_root/.cache/jars}"
lock="$repo_root/apps/jars/jars.lock"
update_lock=false
if [[ "${1:-}" == "--update-lock" ]]; then update_lock=true; shift; fi
pyspark_jars="${1:-}"
if [[ -z "$pyspark_jars" ]]; then
  py="${PYTHON:-$repo_root/.venv/bin/python}"
  pyspark_jars="$("$py" -c 'import os, pyspark; print(os.path.join(os.path.dirname(pyspark.__file__), "jars"))')"
fi
[[ -d "$pyspark_jars" ]] || { echo "fetch-jars: pyspark jars not found at $pyspark_jars" >&2; exit 2; }

matches_lock() {
  [[ -f "$lock" && -d "$jars_dir" ]] || return 1
  (cd "$jars_dir" && sha256sum --quiet --check "$lock" >/dev/null 2>&1) || return 1
  [[ "$(ls "$jars_dir"/*.jar | wc -l)" -eq "$(grep -c . "$lock")" ]]
}

if ! $update_lock && matches_lock; then
  echo "fetch-jars: $jars_dir matches apps/jars/jars.lock"
  exit 0
fi

command -v mvn >/dev/null || { echo "fetch-jars: Maven (mvn) is required: apt-get install maven" >&2; exit 2; }
staging="$(mktemp -d)"
trap 'rm -rf "$staging"' EXIT
echo "fetch-jars: resolving the closure of apps/jars/pom.xml with Maven..."
mvn -q -B -f "$repo_root/apps/jars/pom.xml" dependency:copy-dependencies \
  -DincludeScope=runtime -DoutputDirectory="$staging/all" >"$staging/mvn.log" 2>&1 || {
  cat "$staging/mvn.log" >&2
  echo "fetch-jars: Maven could not resolve apps/jars/pom.xml (is the Maven registry reachable?)" >&2
  exit 3
}

# artifact name of a jar file: strip "-<version>.jar"
artifact() { basename "$1" | sed -E 's/-[0-9][0-9A-Za-z.+_-]*\.jar$//'; }
declare -A provided=()
for jar in "$pyspark_jars"/*.jar; do provided["$(artifact "$jar")"]=1; done

mkdir -p "$staging/kept"
for jar in "$staging"/all/*.jar; do
  name="$(artifact "$jar")"
  # pyspark's Jackson wins; a second, older Jackson module next to it breaks at runtime
  if [[ -n "${provided[$name]:-}" || "$name" == jackson-* ]]; then continue; fi
  cp "$jar" "$staging/kept/"
done

if $update_lock; then
  (cd "$staging/kept" && sha256sum -- *.jar) >"$lock"
  echo "fetch-jars: wrote $(grep -c . "$lock") entries to apps/jars/jars.lock"
fi
(cd "$staging/kept" && sha256sum --quiet --check "$lock") || {
  echo "fetch-jars: resolved jars differ from apps/jars/jars.lock (run tools/fetch-jars.sh --update-lock after changing pom.xml)" >&2
  exit 4
}
rm -rf "$jars_dir" && mkdir -p "$(dirname "$jars_dir")"
mv "$staging/kept" "$jars_dir"
echo "fetch-jars: $(ls "$jars_dir" | wc -l) jars in $jars_dir"
