#!/usr/bin/env python3
"""Checks that every crate's `# Layout` section (in its lib.rs, or main.rs for a binary) names
each of its modules: every `.rs` file under `src/` (but lib.rs, main.rs and mod.rs) and every
directory there, as a whole word. A crate with modules and no `# Layout` section is reported
too. Prints what is missing and exits 1; prints one line and exits 0 when every doc is true.

Run from anywhere: `python3 scripts/check_layout.py`.
"""

import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Crates not checked yet, each with why. Empty this list as soon as the reason is gone.
EXCLUDED: set = set()


def modules(src):
    """The module names under `src`: file stems and directory names."""
    names = set()
    for _root, dirs, files in os.walk(src):
        for f in files:
            if f.endswith(".rs") and f not in ("lib.rs", "main.rs", "mod.rs"):
                names.add(f[:-3])
        names.update(dirs)
    return names


def layout_section(text):
    """The text of the `# Layout` section: up to the next `//! #` heading or the first line
    that is not a `//` comment. None when there is no such section."""
    m = re.search(r"# Layout(.*?)(\n//! #|\n[^/])", text, re.S)
    return m.group(1) if m else None


def main():
    crates_dir = os.path.join(ROOT, "crates")
    problems = []
    for crate in sorted(os.listdir(crates_dir)):
        if crate in EXCLUDED:
            continue
        src = os.path.join(crates_dir, crate, "src")
        roots = [os.path.join(src, f) for f in ("lib.rs", "main.rs")]
        root = next((r for r in roots if os.path.isfile(r)), None)
        if root is None:
            continue
        mods = modules(src)
        with open(root, encoding="utf-8", errors="replace") as f:
            doc = layout_section(f.read())
        rel = os.path.relpath(root, ROOT)
        if doc is None:
            if mods:
                names = ", ".join(sorted(mods))
                problems.append(f"{rel}: no '# Layout' section (modules: {names})")
            continue
        missing = sorted(x for x in mods if not re.search(r"\b%s\b" % re.escape(x), doc))
        if missing:
            problems.append(f"{rel}: '# Layout' does not name {', '.join(missing)}")
    if problems:
        print("Layout docs out of date:")
        for p in problems:
            print(f"  {p}")
        return 1
    skipped = f" (not checked yet: {', '.join(sorted(EXCLUDED))})" if EXCLUDED else ""
    print(f"ok: every crate's '# Layout' names its modules{skipped}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
