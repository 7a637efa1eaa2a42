#!/usr/bin/env python3
"""Checks the layering of sim/ (DESIGN.md, sim/README.md) from its #include lines.

1. A module includes only itself, core/ and the modules before it in the module table of
   sim/README.md (core, cluster, engine, ..., cli); the order is read from that table.
2. Policies never depend on each other: a file in sim/policy/<kind>/ includes only its own
   kind's folder and the policy/ common files (views.h, idle_histogram.h), and those common
   files include no kind's folder.

Every folder of sim/ must be a row of the table. Prints each violation as file:line and exits 1
when there is one.
    scripts/check_layering.py [REPOSITORY]   check REPOSITORY (default: this one)
    scripts/check_layering.py --self-test    check that the checks catch what they should
"""
import pathlib
import re
import sys
import tempfile

INCLUDE = re.compile(r'^\s*#\s*include\s+"sim/([^"]+)"')
TABLE_ROW = re.compile(r"^\|\s*`([a-z_]+)/`\s*\|")
SOURCE_SUFFIXES = {".h", ".cc", ".cpp", ".hpp"}


def module_order(readme):
    """The modules in the order of the table in sim/README.md."""
    order = [m.group(1) for line in readme.read_text().splitlines() if (m := TABLE_ROW.match(line))]
    if not order:
        raise SystemExit(f"{readme}: no module table (rows like | `core/` | ...)")
    return order


def violations(repo):
    sim = repo / "sim"
    order = module_order(sim / "README.md")
    rank = {module: i for i, module in enumerate(order)}
    found = []
    for folder in sorted(p.name for p in sim.iterdir() if p.is_dir()):
        if folder not in rank:
            found.append(f"sim/{folder}/: a module missing from the table in sim/README.md")
    for path in sorted(p for p in sim.rglob("*") if p.suffix in SOURCE_SUFFIXES):
        parts = path.relative_to(sim).parts
        if len(parts) < 2:
            continue
        module = parts[0]
        # policy/<kind>/file: the kind; policy/file: None (a common policy file).
        kind = parts[1] if module == "policy" and len(parts) > 2 else None
        for number, line in enumerate(path.read_text().splitlines(), 1):
            m = INCLUDE.match(line)
            if not m:
                continue
            target = m.group(1).split("/")
            where = f"{path.relative_to(repo)}:{number}"
            used = target[0]
            if used in rank and module in rank and rank[used] > rank[module]:
                found.append(f"{where}: {module}/ includes sim/{m.group(1)}, "
                             f"but {used}/ comes after {module}/ in sim/README.md")
            if module == "policy" and used == "policy" and len(target) > 2 and target[1] != kind:
                owner = f"policy/{kind}/" if kind else "a common policy/ file"
                found.append(f"{where}: {owner} includes sim/{m.group(1)}; "
                             "policies depend on read-only views, never on each other")
    return found


def self_test():
    readme = "| module | job |\n|---|---|\n" + "".join(
        f"| `{m}/` | x |\n" for m in ["core", "engine", "policy", "cli"])
    files = {
        "sim/README.md": readme,
        "sim/core/a.h": '#include "sim/core/b.h"\n',
        "sim/engine/e.cc": '#include "sim/core/a.h"\n#include "sim/policy/views.h"\n',
        "sim/policy/views.h": '#include "sim/engine/e.h"\n#include "sim/policy/cache/lru.h"\n',
        "sim/policy/cache/lru.h": '#include "sim/policy/views.h"\n#include "sim/policy/cache/base.h"\n',
        "sim/policy/preload/p.cc": '#include "sim/policy/cache/lru.h"\n',
        "sim/cli/main.cc": '#include "sim/policy/cache/lru.h"\n#include "sim/engine/e.h"\n',
        "sim/extra/x.h": "",
    }
    expected = [
        "sim/extra/: a module missing",
        "sim/engine/e.cc:2: engine/ includes sim/policy/views.h",
        "sim/policy/preload/p.cc:1: policy/preload/ includes sim/policy/cache/lru.h",
        "sim/policy/views.h:2: a common policy/ file includes sim/policy/cache/lru.h",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        root = pathlib.Path(tmp)
        for name, text in files.items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_text(text)
        found = violations(root)
    missing = [e for e in expected if not any(f.startswith(e) for f in found)]
    extra = [f for f in found if not any(f.startswith(e) for e in expected)]
    if missing or extra:
        print("check_layering self-test failed:\n  missed: %s\n  unexpected: %s" % (missing, extra))
        return 1
    print(f"check_layering self-test: the {len(expected)} planted violations found, nothing else")
    return 0


def main(argv):
    if argv[1:] == ["--self-test"]:
        return self_test()
    repo = pathlib.Path(argv[1] if len(argv) > 1 else pathlib.Path(__file__).resolve().parent.parent)
    found = violations(repo)
    for v in found:
        print(v)
    if found:
        print(f"check_layering: {len(found)} violation(s) of the module order or policy independence")
        return 1
    print("check_layering: sim/ follows the module order of sim/README.md; policies are independent")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
