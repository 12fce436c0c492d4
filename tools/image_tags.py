#!/usr/bin/env python3
"""Find, print and change the tag of this repository's own images wherever it is deployed.

The images are ghcr.io/data-stack-k8s/data-stack-k8s/{base,ingestor,transformer,
aggregator,jupyter}. Their tag lives in the environment overlays and Argo CD's cluster
folder only (base/ holds defaults that the overlays replace):

  * kustomize `images:` entries of kustomization.yaml files: read with PyYAML, changed
    by `kustomize edit set image` (the Kustomize the tests render with: .cache/bin, or
    $KUSTOMIZE);
  * `KEY=<image>:<tag>` lines of .env files, e.g. overlays/kind/airflow/images.env that
    the DAG reads: changed by a plain edit of those lines.

  tools/image_tags.py list            every reference: file:line image tag
  tools/image_tags.py current         the one tag they share (fails if they disagree)
  tools/image_tags.py set TAG         move every reference to TAG; prints the files changed

Used by tools/build-images.sh (which tag to build) and tools/bump-image-tags.sh (CI's
tag bump); tests/ci/test_ci_image_tags.py runs it on a copy of the tree.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

REGISTRY_PREFIX = "ghcr.io/data-stack-k8s/data-stack-k8s"
IMAGES = ("base", "ingestor", "transformer", "aggregator", "jupyter")
OURS = {f"{REGISTRY_PREFIX}/{name}" for name in IMAGES}
SCAN_ROOTS = ("overlays", "clusters")
TAG_RE = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"  # Docker's tag grammar


class TagError(Exception):
    pass


@dataclass(frozen=True)
class Ref:
    path: Path
    line: int  # 1-based
    image: str
    tag: str
    kind: str  # "kustomize" | "env"
    name: str = ""  # kustomize: the `name:` the images entry matches


def _files(root: Path, names: tuple[str, ...]) -> list[Path]:
    found = []
    for sub in SCAN_ROOTS:
        for path in (root / sub).rglob("*"):
            if path.is_file() and "upstream" not in path.parts and path.name.endswith(names):
                found.append(path)
    return sorted(found)


def _kustomize_refs(path: Path) -> list[Ref]:
    doc = yaml.compose(path.read_text(encoding="utf-8"))
    if not isinstance(doc, yaml.MappingNode):
        return []
    images = next((v for k, v in doc.value if k.value == "images"), None)
    refs = []
    for item in images.value if isinstance(images, yaml.SequenceNode) else []:
        fields = {k.value: v for k, v in item.value}
        name = fields["name"].value
        image = fields["newName"].value if "newName" in fields else name
        if image in OURS:
            tag_node = fields.get("newTag") or item
            tag = fields["newTag"].value if "newTag" in fields else ""
            refs.append(Ref(path, tag_node.start_mark.line + 1, image, tag, "kustomize", name))
    return refs


def _env_refs(path: Path) -> list[Ref]:
    refs = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        _, _, value = line.strip().partition("=")
        reference, _, digest = value.partition("@")
        image, _, tag = reference.rpartition(":")
        if image in OURS and not line.lstrip().startswith("#"):
            if digest:
                raise TagError(
                    f"{path}:{number}: {value} is pinned by digest; "
                    "first-party images are deployed by tag only"
                )
            refs.append(Ref(path, number, image, tag, "env"))
    return refs


def find_refs(root: Path) -> list[Ref]:
    refs = [r for p in _files(root, ("kustomization.yaml",)) for r in _kustomize_refs(p)]
    return refs + [r for p in _files(root, (".env",)) for r in _env_refs(p)]


def current_tag(root: Path) -> str:
    refs = find_refs(root)
    if not refs:
        raise TagError(
            f"no reference to {REGISTRY_PREFIX}/<image>:<tag> under {', '.join(SCAN_ROOTS)}/"
        )
    tags = sorted({r.tag for r in refs})
    if len(tags) > 1:
        detail = "\n".join(f"  {r.path.relative_to(root)}:{r.line} {r.image}:{r.tag}" for r in refs)
        raise TagError(f"the overlays disagree on the image tag ({', '.join(tags)}):\n{detail}")
    return tags[0]


def kustomize_binary(root: Path) -> str:
    here = Path(__file__).resolve().parents[1]
    for candidate in (
        os.environ.get("KUSTOMIZE"),
        root / ".cache/bin/kustomize",
        here / ".cache/bin/kustomize",
        shutil.which("kustomize"),
    ):
        if candidate and Path(candidate).is_file():
            return str(candidate)
    raise TagError("kustomize not found: run `make manifest-tools` or set KUSTOMIZE")


def set_tag(root: Path, tag: str) -> list[Path]:
    if not re.fullmatch(TAG_RE, tag):
        raise TagError(f"{tag!r} is not a valid image tag")
    refs = find_refs(root)
    if not refs:
        raise TagError(f"no image reference found under {', '.join(SCAN_ROOTS)}/")
    before = {r.path: r.path.read_bytes() for r in refs}
    kustomize = None
    for ref in refs:
        if ref.kind == "kustomize" and ref.tag != tag:
            kustomize = kustomize or kustomize_binary(root)
            target = ref.name if ref.name == ref.image else f"{ref.name}={ref.image}"
            done = subprocess.run(  # noqa: S603 - fixed argv
                [kustomize, "edit", "set", "image", f"{target}:{tag}"],
                cwd=ref.path.parent,
                capture_output=True,
                text=True,
            )
            if done.returncode != 0:
                raise TagError(f"kustomize edit set image in {ref.path.parent}: {done.stderr}")
    for path in {r.path for r in refs if r.kind == "env"}:
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        for ref in (r for r in refs if r.path == path):
            old, new = f"={ref.image}:{ref.tag}", f"={ref.image}:{tag}"
            lines[ref.line - 1] = lines[ref.line - 1].replace(old, new)
        path.write_text("".join(lines), encoding="utf-8")
    if current_tag(root) != tag:  # every reference must now carry the new tag
        raise TagError("internal error: some references were not rewritten")
    return sorted(p for p, content in before.items() if p.read_bytes() != content)


def main(argv: list[str]) -> int:
    root = Path(__file__).resolve().parents[1]
    args = list(argv)
    if args[:1] == ["--root"] and len(args) >= 2:
        root = Path(args[1]).resolve()
        args = args[2:]
    try:
        if args == ["list"]:
            for r in find_refs(root):
                print(f"{r.path.relative_to(root)}:{r.line} {r.image} {r.tag} ({r.kind})")
        elif args == ["current"]:
            print(current_tag(root))
        elif len(args) == 2 and args[0] == "set":
            for path in set_tag(root, args[1]):
                print(path.relative_to(root))
        else:
            print(__doc__, file=sys.stderr)
            return 2
    except TagError as exc:
        print(f"image_tags: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
