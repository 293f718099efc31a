"""Code structure, read from the source with ast: every module imports only packages
below its own (docs/ARCHITECTURE.md's "Layers" table says which; imports inside
functions count too), and no broad except swallows silently."""
import ast
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parent.parent
PKG = ROOT / "spinnaker_emu"

# Lowest first. A package may import any package before it in this list, none after.
LAYERS = ["protocol", "apps", "machine", "board", "host", "mapping", "spalloc", "pynn", "view", "cli"]


def _package(path):
    rel = path.relative_to(PKG)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def _module_parts(path):
    parts = ["spinnaker_emu"] + list(path.relative_to(PKG).with_suffix("").parts)
    return parts[:-1] if parts[-1] == "__init__" else parts


def imports_of(path):
    """The spinnaker_emu packages ``path`` imports (relative imports resolved)."""
    here = _module_parts(path)
    is_pkg = path.name == "__init__.py"
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names = []
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[:len(here) - node.level + (1 if is_pkg else 0)]
                names.append(base + (node.module.split(".") if node.module else []))
            else:
                names.append((node.module or "").split("."))
        elif isinstance(node, ast.Import):
            names += [a.name.split(".") for a in node.names]
        for n in names:
            if n[0] == "spinnaker_emu" and len(n) > 1:
                out.add(n[1])
    return out


def package_imports():
    """{package: {packages it imports}} over every module of spinnaker_emu (its own
    __init__/__main__ aside)."""
    graph = {}
    for path in sorted(PKG.rglob("*.py")):
        pkg = _package(path)
        if pkg in ("__init__", "__main__"):
            continue
        graph.setdefault(pkg, set()).update(imports_of(path) - {pkg})
    return graph


def test_every_package_is_in_a_layer():
    assert set(package_imports()) == set(LAYERS)


def test_every_module_imports_downward_only():
    rank = {p: i for i, p in enumerate(LAYERS)}
    bad = []
    for path in sorted(PKG.rglob("*.py")):
        pkg = _package(path)
        if pkg not in rank:
            continue
        for target in imports_of(path) - {pkg}:
            if rank.get(target, -1) >= rank[pkg]:
                bad.append("%s imports %s" % (path.relative_to(ROOT), target))
    assert not bad, "upward imports:\n" + "\n".join(bad)


def _table_imports():
    """{package: {packages}} from the imports column of ARCHITECTURE.md's Layers table."""
    text = (ROOT / "docs" / "ARCHITECTURE.md").read_text()
    table = text[text.index("| package | what | imports |"):]
    table = table[:table.index("\n\n")]
    out = {}
    for line in table.splitlines()[2:]:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        name = cells[0].strip("`").rstrip("/").replace(".py", "")
        column = re.sub(r"\([^)]*\)", "", cells[-1])
        out[name] = set() if "nothing" in column else {
            w.strip().split(".")[0] for w in column.split(",") if w.strip()}
    return out


def test_architecture_table_matches_the_code():
    assert _table_imports() == package_imports()


# Broad handlers that swallow silently in files other developers are changing now
# (apps/, pynn/loader.py): listed here so this test holds for the rest; remove when fixed.
SILENT_ELSEWHERE = {"spinnaker_emu/apps/neuron/kernels.py", "spinnaker_emu/pynn/loader.py"}


def test_no_silent_broad_except():
    """No ``except Exception: pass`` (or a bare except, or one that only returns or
    continues): what was swallowed is logged, or the handler names what it expects."""
    silent = []
    for path in sorted(PKG.rglob("*.py")):
        rel = str(path.relative_to(ROOT))
        if rel in SILENT_ELSEWHERE:
            continue
        for node in ast.walk(ast.parse(path.read_text(), rel)):
            if not isinstance(node, ast.ExceptHandler):
                continue
            broad = node.type is None or (isinstance(node.type, ast.Name)
                                          and node.type.id in ("Exception", "BaseException"))
            quiet = all(isinstance(s, (ast.Pass, ast.Continue)) or (isinstance(s, ast.Return) and s.value is None)
                        for s in node.body)
            if broad and quiet:
                silent.append("%s:%d" % (rel, node.lineno))
    assert not silent, "silent broad except: " + ", ".join(silent)


MAX_CLASS_LINES = 400
# pynn/loader.py is being optimised by another developer; LoadedNetwork (generation vs
# load/run/extract) is split when that work lands.
LONG_CLASSES_ELSEWHERE = {("spinnaker_emu/pynn/loader.py", "LoadedNetwork")}


def test_no_class_over_400_lines():
    long = []
    for path in sorted(PKG.rglob("*.py")):
        rel = str(path.relative_to(ROOT))
        for node in ast.walk(ast.parse(path.read_text(), rel)):
            if isinstance(node, ast.ClassDef) and (rel, node.name) not in LONG_CLASSES_ELSEWHERE:
                n = node.end_lineno - node.lineno + 1
                if n > MAX_CLASS_LINES:
                    long.append("%s %s (%d lines)" % (rel, node.name, n))
    assert not long, "classes over %d lines: %s" % (MAX_CLASS_LINES, "; ".join(long))
