"""The README is part of the product: CI runs its test command, and it documents every field."""

from __future__ import annotations

from pathlib import Path

from gantui.protocol import METRIC_NAMES

ROOT = Path(__file__).resolve().parent.parent


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    ci_lines = [line for line in (ROOT / ".ci/run").read_text().splitlines() if "pytest" in line]
    assert len(ci_lines) == 1
    assert ci_lines[0].strip() in readme


def test_readme_documents_every_metric_field() -> None:
    readme = (ROOT / "README.md").read_text()
    for name in METRIC_NAMES:
        assert f"`{name}`" in readme, name


def test_readme_lists_every_bundled_preset() -> None:
    readme = (ROOT / "README.md").read_text()
    for path in (ROOT / "presets").glob("*.toml"):
        assert f"`{path.stem}`" in readme, path.stem
