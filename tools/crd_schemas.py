"""Strict JSON schemas for kubeconform, generated from CustomResourceDefinitions as shipped.

    python tools/crd_schemas.py CRD_DIR OUT_DIR

For every served version of every CRD in CRD_DIR/*.yaml, writes
OUT_DIR/<group>/<kind lower>_<version>.json: the CRD's own openAPIV3Schema, with
`apiVersion`/`kind` pinned and, as kubeconform's "strict" schemas do, unknown fields
refused wherever the CRD lists properties and does not preserve unknown fields. Nothing is
written by hand: a field the release adds or drops reaches the tests with the version bump.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml


def _strict(node: object) -> object:
    if isinstance(node, dict):
        node = {k: _strict(v) for k, v in node.items()}
        if (
            node.get("type") == "object"
            and "properties" in node
            and "additionalProperties" not in node
            and not node.get("x-kubernetes-preserve-unknown-fields")
        ):
            node["additionalProperties"] = False
        return node
    if isinstance(node, list):
        return [_strict(v) for v in node]
    return node


def schemas(crd: dict) -> dict[str, dict]:
    spec = crd["spec"]
    group, kind = spec["group"], spec["names"]["kind"]
    out = {}
    for version in spec["versions"]:
        if not version.get("served", True):
            continue
        schema = _strict(version["schema"]["openAPIV3Schema"])
        props = schema.setdefault("properties", {})
        props["apiVersion"] = {"enum": [f"{group}/{version['name']}"]}
        props["kind"] = {"enum": [kind]}
        out[f"{group}/{kind.lower()}_{version['name']}.json"] = schema
    return out


def main(crd_dir: str, out_dir: str) -> int:
    written = 0
    for f in sorted(Path(crd_dir).glob("*.yaml")):
        for doc in yaml.safe_load_all(f.read_text()):
            if not doc or doc.get("kind") != "CustomResourceDefinition":
                continue
            for name, schema in schemas(doc).items():
                target = Path(out_dir) / name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(json.dumps(schema))
                written += 1
    if not written:
        print(f"crd_schemas: no CustomResourceDefinition in {crd_dir}", file=sys.stderr)
        return 1
    print(f"crd_schemas: {written} schemas written to {out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
