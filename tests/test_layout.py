"""The layout is a picture of the architecture: the library on top, the paper lab, the assignments and
the command line built on it, and no arrow pointing back up (read from the import statements)."""
import ast
import os
import subprocess
import sys
import warnings

import pytest

import minicnn

PACKAGE = os.path.dirname(minicnn.__file__)
# what is built on the library, each allowed to import only the floors below it
ABOVE_THE_LIBRARY = {"lab": set(), "assignment": {"lab"}, "cli": {"lab", "assignment"}}


def modules():
    """(dotted name, path) of every module of the package."""
    for folder, _, files in os.walk(PACKAGE):
        for file in files:
            if file.endswith(".py"):
                path = os.path.join(folder, file)
                relative = os.path.relpath(path, os.path.dirname(PACKAGE))[:-3].replace(os.sep, ".")
                yield relative.removesuffix(".__init__"), path


def imported(path):
    """Every minicnn module name an import statement of the file names (absolute imports only)."""
    with open(path, encoding="utf-8") as file:
        tree = ast.parse(file.read(), path)
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    # an old name (minicnn.zoo) counts as the module it stands for
    return {minicnn.MOVED.get(name, name) for name in names if name.split(".")[0] == "minicnn"}


def floor(module_name):
    """'lab', 'assignment' or 'cli' for a module built on the library; 'library' for the rest."""
    parts = module_name.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in ABOVE_THE_LIBRARY else "library"


def test_the_top_of_the_package_holds_at_most_ten_modules():
    top = sorted(name for name in os.listdir(PACKAGE) if name.endswith(".py"))
    assert len(top) <= 10, top


@pytest.mark.parametrize("name, path", sorted(modules()))
def test_no_module_imports_a_floor_above_its_own(name, path):
    own = floor(name)
    allowed = set() if own == "library" else ABOVE_THE_LIBRARY[own] | {own}
    wrong = sorted(target for target in imported(path)
                   if floor(target) != "library" and floor(target) not in allowed)
    assert not wrong, f"{name} ({own}) imports {', '.join(wrong)}"


def test_argparse_lives_only_in_the_command_line():
    users = sorted(name for name, path in modules() if floor(name) != "cli"
                   and "argparse" in {alias.name for node in ast.walk(ast.parse(open(path, encoding="utf-8").read()))
                                      if isinstance(node, ast.Import) for alias in node.names})
    assert not users


@pytest.mark.parametrize("old, new", sorted(minicnn.MOVED.items()))
def test_a_moved_module_keeps_its_old_name_for_a_release_with_a_warning(old, new):
    # a fresh interpreter: in this one the module may already be imported under its old name
    program = (f"import importlib, warnings\nwarnings.simplefilter('error', FutureWarning)\n"
               f"try:\n    importlib.import_module({old!r})\nexcept FutureWarning as warning:\n    print(warning)\n"
               f"warnings.simplefilter('ignore')\n"
               f"assert importlib.import_module({old!r}) is importlib.import_module({new!r})\n")
    finished = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60)
    assert finished.returncode == 0, finished.stderr
    assert f"{old} has moved to {new}" in finished.stdout


def test_the_old_attributes_of_the_package_warn_and_give_the_new_modules():
    from minicnn.lab import zoo
    from minicnn.runtime import threads
    with pytest.warns(FutureWarning, match="minicnn.lab.zoo"):
        assert minicnn.zoo is zoo
    with pytest.warns(FutureWarning, match="minicnn.runtime.threads"):
        assert minicnn.threads is threads
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert minicnn.Sequential and minicnn.set_threads and minicnn.layers.Conv2D
    with pytest.raises(AttributeError, match="no attribute 'nonsense'"):
        minicnn.nonsense


def test_docs_design_draws_the_tree_as_it_is():
    with open(os.path.join(os.path.dirname(PACKAGE), "docs", "design.md"), encoding="utf-8") as file:
        design = file.read()
    layout = design[design.index("## The floors of the house"):design.index("### Where a new thing goes")]
    named = set()
    for entry in sorted(os.listdir(PACKAGE)):
        if entry.endswith(".py"):
            named.add(entry)
        elif os.path.isfile(os.path.join(PACKAGE, entry, "__init__.py")):
            named.add(f"{entry}/")
    for floor in ("lab", "runtime", "data", "cli"):   # every module of these is named beside its floor
        named.update(name for name in os.listdir(os.path.join(PACKAGE, floor))
                     if name.endswith(".py") and name not in ("__init__.py", "__main__.py"))
    missing = sorted(name for name in named if name not in layout and name.removesuffix(".py") not in layout)
    assert not missing, f"docs/design.md's layout does not name {', '.join(missing)}"
