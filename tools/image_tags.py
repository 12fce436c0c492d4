#!/usr/bin/env python3
"""Find, print and change the tag of this repository's own images wherever it is deployed.

The images are ghcr.io/data-stack-k8s/data-stack-k8s/{base,ingestor,transformer,
aggregator,jupyter}. Their tag lives in the environment overlays and Argo CD's cluster
folder only (base/ holds defaults that the overlays replace):

  * kustomize `images:` entries (name/newName = one of our images, `newTag: <tag>`);
  * literal references `ghcr.io/.../<image>:<tag>` in overlay files, e.g. the Airflow
    job-image file overlays/kind/airflow/images.env that the DAG reads.

  tools/image_tags.py list            every reference: file:line image tag
  tools/image_tags.py current         the one tag they share (fails if they disagree)
  tools/image_tags.py set TAG         rewrite every reference to TAG (text edit: comments
                                      and layout stay); prints the files it changed

Used by tools/build-images.sh (which tag to build) and tools/bump-image-tags.sh (CI's
tag bump); tests/ci/test_image_tags.py runs it on a copy of the tree. Standard library
only, so it runs on a bare CI runner.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

REGISTRY_PREFIX = "ghcr.io/data-stack-k8s/data-stack-k8s"
IMAGES = ("base", "ingestor", "transformer", "aggregator", "jupyter")
# Where deployed tags live, relative to the repository root.
SCAN_ROOTS = ("overlays", "clusters")
SCAN_SUFFIXES = (".yaml", ".yml", ".env")
# Docker's tag grammar.
TAG_RE = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
_IMAGE_ALT = "|".join(IMAGES)
LITERAL_RE = re.compile(
    rf"(?P<image>{re.escape(REGISTRY_PREFIX)}/(?:{_IMAGE_ALT}))"
    rf":(?P<tag>{TAG_RE})(?P<digest>@sha256:[0-9a-f]{{64}})?"
)
NAME_RE = re.compile(
    rf"^\s*(?:-\s+)?(?:name|newName):\s*[\"']?(?P<image>{re.escape(REGISTRY_PREFIX)}/(?:{_IMAGE_ALT}))[\"']?\s*(?:#.*)?$"
)
NEWTAG_RE = re.compile(
    rf"^(?P<head>\s*(?:-\s+)?newTag:\s*)(?P<q>[\"']?)(?P<tag>{TAG_RE})(?P=q)(?P<tail>\s*(?:#.*)?)$"
)


class TagError(Exception):
    pass


@dataclass(frozen=True)
class Ref:
    path: Path
    line: int  # 1-based
    image: str
    tag: str
    kind: str  # "literal" | "kustomize"


def _files(root: Path) -> list[Path]:
    found: list[Path] = []
    for sub in SCAN_ROOTS:
        base = root / sub
        if base.is_dir():
            found += [
                p
                for p in base.rglob("*")
                if p.is_file() and p.suffix in SCAN_SUFFIXES and "upstream" not in p.parts
            ]
    return sorted(found)


def _item_bounds(lines: list[str], index: int) -> tuple[int, int]:
    """The YAML list item (start, end) that line `index` belongs to, by indentation."""

    def indent(text: str) -> int:
        return len(text) - len(text.lstrip(" "))

    start = index
    while start >= 0 and not lines[start].lstrip().startswith("- "):
        start -= 1
    if start < 0:
        return index, index + 1
    dash = indent(lines[start])
    end = start + 1
    while end < len(lines):
        text = lines[end]
        if text.strip() and not text.lstrip().startswith("#") and indent(text) <= dash:
            break
        end += 1
    return start, end


def find_refs(root: Path) -> list[Ref]:
    refs: list[Ref] = []
    for path in _files(root):
        lines = path.read_text(encoding="utf-8").splitlines()
        for i, text in enumerate(lines):
            code = text.split("#", 1)[0] if path.suffix != ".env" else text
            if code.lstrip().startswith("#"):
                continue
            for m in LITERAL_RE.finditer(code):
                if m.group("digest"):
                    raise TagError(
                        f"{path}:{i + 1}: {m.group(0)} is pinned by digest; "
                        "first-party images are deployed by tag only"
                    )
                refs.append(Ref(path, i + 1, m.group("image"), m.group("tag"), "literal"))
            m = NEWTAG_RE.match(text)
            if m:
                start, end = _item_bounds(lines, i)
                names = [NAME_RE.match(lines[j]) for j in range(start, end)]
                images = [n.group("image") for n in names if n]
                if images:
                    refs.append(Ref(path, i + 1, images[-1], m.group("tag"), "kustomize"))
    return refs


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


def set_tag(root: Path, tag: str) -> list[Path]:
    if not re.fullmatch(TAG_RE, tag):
        raise TagError(f"{tag!r} is not a valid image tag")
    refs = find_refs(root)
    if not refs:
        raise TagError(f"no image reference found under {', '.join(SCAN_ROOTS)}/")
    changed: list[Path] = []
    by_file: dict[Path, list[Ref]] = {}
    for ref in refs:
        by_file.setdefault(ref.path, []).append(ref)
    for path, file_refs in by_file.items():
        original = path.read_text(encoding="utf-8")
        lines = original.splitlines(keepends=True)
        for ref in file_refs:
            text = lines[ref.line - 1]
            if ref.kind == "literal":
                text = LITERAL_RE.sub(lambda m: f"{m.group('image')}:{tag}", text)
            else:
                body = text.rstrip("\n")
                m = NEWTAG_RE.match(body)
                assert m is not None
                q = m.group("q")
                text = f"{m.group('head')}{q}{tag}{q}{m.group('tail')}" + text[len(body) :]
            lines[ref.line - 1] = text
        updated = "".join(lines)
        if updated != original:
            path.write_text(updated, encoding="utf-8")
            changed.append(path)
    if current_tag(root) != tag:  # every reference must now carry the new tag
        raise TagError("internal error: some references were not rewritten")
    return changed


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
