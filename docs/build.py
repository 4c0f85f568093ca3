"""Builds the docs: the API reference from the docstrings (pdoc), and checks the guides.

Usage: ``python docs/build.py [--out docs/_build]``. Exits non-zero when a guide links to a
file that does not exist, or names a ``transferlab.X`` that the package does not export, or
when pdoc fails.
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
REPO = DOCS.parent


def check_guides() -> list[str]:
    """Problems in the Markdown guides: dead relative links and unknown API names."""
    problems = []
    import transferlab

    for page in sorted(DOCS.glob("*.md")):
        text = page.read_text(encoding="utf-8")
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
            if "://" in target:
                continue
            if not (page.parent / target).exists():
                problems.append(f"{page.name}: link to missing file {target}")
        for dotted in set(re.findall(r"`(transferlab(?:\.[A-Za-z_][A-Za-z0-9_]*)+)", text)):
            parts = dotted.split(".")
            obj: object = transferlab
            for index, part in enumerate(parts[1:], start=1):
                if hasattr(obj, part):
                    obj = getattr(obj, part)
                    continue
                try:
                    obj = importlib.import_module(".".join(parts[: index + 1]))
                except ImportError:
                    problems.append(f"{page.name}: `{dotted}` does not exist")
                    break
    return problems


def api_modules() -> list[str]:
    """The package and each of its public top-level modules (``transferlab.data`` ...).

    Named explicitly: pdoc lists only the submodules named in a package's ``__all__``, and
    ``transferlab.__all__`` names the public functions and classes instead.
    """
    import pkgutil

    import transferlab

    # `errors` is in transferlab.__all__ already, so pdoc documents it with the package.
    names = sorted(
        m.name
        for m in pkgutil.iter_modules(transferlab.__path__)
        if not m.name.startswith("_") and m.name not in transferlab.__all__
    )
    return ["transferlab", *(f"transferlab.{name}" for name in names)]


def build_api(out: Path) -> None:
    """Writes the HTML API reference for the whole package into ``out/api``."""
    import pdoc

    pdoc.render.configure(docformat="google", show_source=False)
    pdoc.pdoc(*api_modules(), output_directory=out / "api")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=DOCS / "_build")
    args = parser.parse_args(argv)
    problems = check_guides()
    for problem in problems:
        print(f"docs: {problem}", file=sys.stderr)
    build_api(args.out)
    pages = sorted((args.out / "api").rglob("*.html"))
    print(f"docs: {len(pages)} API pages in {args.out / 'api'}; {len(problems)} problems in the guides")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
