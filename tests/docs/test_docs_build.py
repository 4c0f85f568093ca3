"""The docs build (guides checked, API reference written), and the guides' Python code runs."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
GUIDES = sorted(p.name for p in DOCS.glob("*.md") if p.name.startswith(("guide-", "getting-started")))
CODE_GUIDES = [g for g in GUIDES if g != "guide-cli.md"]  # the CLI guide is shell only
# Pages whose ```python blocks must run: the guides and the README's example.
CODE_PAGES = {**{g: DOCS / g for g in CODE_GUIDES}, "README.md": REPO / "README.md"}
MAIN_MODULES = (
    "backbones",
    "cli",
    "config",
    "data",
    "errors",
    "evaluation",
    "experiments",
    "serving",
    "strategies",
    "training",
)


def test_build_exits_0_and_writes_the_main_module_pages(tmp_path: Path) -> None:
    process = subprocess.run(
        [sys.executable, str(DOCS / "build.py"), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
    )
    assert process.returncode == 0, process.stdout + process.stderr
    assert re.search(r"docs: \d+ API pages in .*; 0 problems in the guides", process.stdout)
    api = tmp_path / "api"
    assert (api / "transferlab.html").is_file()
    for name in MAIN_MODULES:
        page = api / "transferlab" / f"{name}.html"
        assert page.is_file(), f"no API page for transferlab.{name}"
    # The reference holds the docstrings: a public class of each main layer is there.
    assert "Trainer" in (api / "transferlab" / "training.html").read_text(encoding="utf-8")
    assert "build_classifier" in (api / "transferlab" / "backbones.html").read_text(encoding="utf-8")


def test_index_links_every_page() -> None:
    index = (DOCS / "index.md").read_text(encoding="utf-8")
    linked = set(re.findall(r"\]\(([^)#\s]+)\)", index))
    pages = {p.name for p in DOCS.glob("*.md")} - {"index.md"}
    assert pages <= linked, f"pages missing from index.md: {sorted(pages - linked)}"
    assert {"design.md", "results.md"} <= linked


def test_check_guides_reports_dead_links_and_unknown_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("docs_build", DOCS / "build.py")
    assert spec and spec.loader
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    (tmp_path / "guide-x.md").write_text(
        "See [nothing](missing.md) and `transferlab.no_such_thing` but `transferlab.Trainer`.\n"
    )
    monkeypatch.setattr(build, "DOCS", tmp_path)
    assert build.check_guides() == [
        "guide-x.md: link to missing file missing.md",
        "guide-x.md: `transferlab.no_such_thing` does not exist",
    ]


def test_cli_guide_covers_every_command() -> None:
    import argparse

    from transferlab.cli.main import build_parser

    (commands,) = [a.choices for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    text = (DOCS / "guide-cli.md").read_text(encoding="utf-8")
    for command in commands:
        assert f"\n## {command}\n" in text, f"guide-cli.md has no section for `transferlab {command}`"
        assert f"| `{command}` |" in text, f"guide-cli.md's table lacks `transferlab {command}`"


def python_blocks(text: str) -> list[str]:
    """The ```python blocks of a guide, except those right after a ``<!-- not run -->`` line."""
    blocks = []
    for match in re.finditer(r"(?m)^(<!-- not run -->\n)?```python\n(.*?)^```$", text, re.S):
        if not match.group(1):
            blocks.append(match.group(2))
    return blocks


@pytest.mark.e2e
@pytest.mark.parametrize("guide", list(CODE_PAGES))
def test_guide_code_runs(guide: str, mnist_dir: Path, tmp_path: Path) -> None:
    blocks = python_blocks(CODE_PAGES[guide].read_text(encoding="utf-8"))
    assert blocks, f"{guide} has no Python code"
    script = tmp_path / "guide.py"
    script.write_text("\n\n".join(blocks), encoding="utf-8")
    env = dict(os.environ, TRANSFERLAB_MNIST_DIR=str(mnist_dir), TF_CPP_MIN_LOG_LEVEL="3", MPLBACKEND="Agg")
    process = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert process.returncode == 0, f"{guide}:\n{process.stderr[-4000:]}"


def test_the_far_source_commands_in_the_strategies_guide_are_the_measured_methods() -> None:
    # docs/guide-strategies.md tells users with a far source to run two commands; they must be
    # the "fine-tune from the start" and "scratch" rows that docs/results.md measured.
    from transferlab.cli.config_flags import resolved_config
    from transferlab.cli.main import build_parser

    sys.path.insert(0, str(REPO / "examples"))
    try:
        import reproduce_results
    finally:
        sys.path.remove(str(REPO / "examples"))
    methods = {spec["id"]: spec for spec in reproduce_results._few_shot_methods().values()}
    guide = (DOCS / "guide-strategies.md").read_text(encoding="utf-8")
    block = (
        guide.split("With a far source, or when in doubt", 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
    )
    commands = [
        line.split("#")[0].replace("...", "").split() for line in block.replace("\\\n", " ").splitlines()
    ]
    assert [c[:2] for c in commands] == [["transferlab", "train"]] * 2
    for command, method in zip(commands, ("fine-tune-all", "scratch")):
        config = resolved_config(build_parser().parse_args(command[1:]))
        measured = methods[method]["strategy"]
        assert {key: getattr(config.strategy, key) for key in measured} == measured, method
        assert config.training.batch_size == 16  # the batch every few-shot row used
        assert config.augment_preset() == "none"  # no augmentation, as measured
        assert bool(config.model.weights) is (method != "scratch")
