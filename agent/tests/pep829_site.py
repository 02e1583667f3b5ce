"""Processes one site-packages directory the way Python 3.15's ``site`` does under PEP 829.

usage: python -S pep829_site.py SITE_DIR [CODE]

PEP 829 (https://peps.python.org/pep-0829/), "Processing phases": ``<name>.pth`` files are
read in sorted order and their path lines appended to ``sys.path``; then the ``<name>.start``
files, sorted; a ``.start`` file with the same ``<name>`` as a ``.pth`` file disables that
``.pth`` file's ``import`` lines; each entry point (``pkg.mod:callable``) is resolved with
``pkgutil.resolve_name()`` and called without arguments. Lines starting with ``#`` and blank
lines are skipped. After that, CODE (if given) runs as the program would. Python 3.10 to 3.14
have no ``.start`` support, so the script stands in for 3.15's ``site`` here.
"""

from __future__ import annotations

import os
import pkgutil
import sys


def entries(path: str) -> list[str]:
    with open(path, encoding="utf-8-sig") as f:
        return [line.strip() for line in f if line.strip() and not line.startswith("#")]


def process(site_dir: str) -> tuple[list[str], int]:
    """Applies the .pth and .start files of ``site_dir``; returns the entry points called and
    how many ``.pth`` import lines ran."""
    names = sorted(os.listdir(site_dir))
    starts = {n[: -len(".start")] for n in names if n.endswith(".start") and not n.startswith(".")}
    imports: list[str] = []
    for name in names:
        if not name.endswith(".pth") or name.startswith("."):
            continue
        for line in entries(os.path.join(site_dir, name)):
            if line.startswith(("import ", "import\t")):
                if name[: -len(".pth")] not in starts:
                    imports.append(line)
                continue
            path = os.path.join(site_dir, line)
            if os.path.exists(path) and path not in sys.path:
                sys.path.append(path)
    called: list[str] = []
    for line in imports:
        exec(line)
    for name in names:
        if name.endswith(".start") and not name.startswith("."):
            for entry in entries(os.path.join(site_dir, name)):
                pkgutil.resolve_name(entry)()
                called.append(entry)
    return called, len(imports)


if __name__ == "__main__":
    site_dir = sys.argv[1]
    sys.path.append(site_dir)
    called, import_lines = process(site_dir)
    print(f"ENTRY_POINTS {' '.join(called)}", flush=True)
    print(f"IMPORT_LINES {import_lines}", flush=True)
    if len(sys.argv) > 2:
        exec(compile(sys.argv[2], "<code>", "exec"), {"__name__": "__main__"})
