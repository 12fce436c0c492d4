"""README.pt-BR.md stays true to the English README: every command, make target, port and
setting it names is named the same way in README.md (and the targets exist in the Makefile)."""

from __future__ import annotations

import re

from conftest import REPO_ROOT

PT = (REPO_ROOT / "README.pt-BR.md").read_text()
EN = (REPO_ROOT / "README.md").read_text()


def _code_lines(text: str) -> list[str]:
    blocks = re.findall(r"```bash\n(.*?)```", text, flags=re.S)
    joined = [b.replace("\\\n", " ") for b in blocks]
    return [re.sub(r"\s+#.*$", "", ln).strip() for b in joined for ln in b.splitlines() if ln.strip()]


def test_the_english_readme_links_the_portuguese_one():
    assert "README.pt-BR.md" in EN.split("\n## ")[0], "link README.pt-BR.md from the top of README.md"


def test_every_command_is_the_english_readmes():
    en = {re.sub(r"\s+", " ", ln) for ln in _code_lines(EN)}
    missing = [ln for ln in _code_lines(PT) if re.sub(r"\s+", " ", ln) not in en]
    assert not missing, f"commands in README.pt-BR.md not in README.md: {missing}"


def test_make_targets_exist_and_are_documented():
    targets = set(re.findall(r"\bmake ([a-z][a-z-]+)", PT))
    makefile = (REPO_ROOT / "Makefile").read_text()
    assert targets >= {"run", "test", "up", "creds", "status", "down"}
    for t in sorted(targets):
        assert re.search(rf"^{re.escape(t)}:", makefile, flags=re.M), f"make {t}: no such target"
        assert f"make {t}" in EN, f"make {t} is not in README.md"


def test_ports_and_settings_match():
    ports = set(re.findall(r"localhost:(\d+)", PT)) | set(re.findall(r"127\.0\.0\.1:(\d+)", PT))
    assert ports, "no port named"
    for port in sorted(ports):
        assert port in EN, f"port {port} is not in README.md"
    settings = set(re.findall(r"`([A-Z][A-Z0-9_]{3,})(?:=[^`]*)?`", PT))
    assert {"MARKET_SOURCE", "ANALYTICS_DSN", "WATCHLIST"} <= settings
    for name in sorted(settings):
        assert name in EN, f"setting {name} is not in README.md"
