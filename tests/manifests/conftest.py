"""Fixtures for the offline manifest tests (marker `manifests`).

Everything is rendered once per session; the tree under test is $MANIFEST_ROOT
(default: this checkout). The tools come from tools/manifest-tools.sh.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # helpers live next to the tests (no package)
    sys.path.insert(0, str(HERE))

from kindstack import build_stack  # noqa: E402
from render import manifest_root, missing_tools, render_all  # noqa: E402

# The `manifests` marker is registered and added by folder in tests/conftest.py.


@pytest.fixture(scope="session")
def tools() -> None:
    missing = missing_tools()
    if missing:
        pytest.fail(
            f"manifest tools missing ({', '.join(missing)}): run `make manifest-tools` "
            "(tools/manifest-tools.sh) once with the package registries reachable",
            pytrace=False,
        )


@pytest.fixture(scope="session")
def root() -> Path:
    return manifest_root()


@pytest.fixture(scope="session")
def renders(tools, root):
    return render_all(root)


@pytest.fixture(scope="session")
def stack(renders, root):
    return build_stack(renders, root)


def pytest_terminal_summary(terminalreporter):
    """Print the footprint totals (the README quotes them) on every run."""
    import crosschecks

    if crosschecks.REPORT:
        terminalreporter.write_sep("-", "manifests: footprint")
        for line in crosschecks.REPORT:
            terminalreporter.write_line(line)
