"""The documentation a fresh clone needs is inside the repository, and what it links to exists."""
import glob
import os
import re

import pytest

from minicnn.lab import results, zoo

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir)
DOCUMENTS = ["README.md"] + sorted(os.path.relpath(path, ROOT) for path in glob.glob(os.path.join(ROOT, "docs", "*.md")))
SOURCES = DOCUMENTS + sorted(os.path.relpath(path, ROOT) for pattern in ("minicnn/**/*.py", "examples/*.py")
                             for path in glob.glob(os.path.join(ROOT, pattern), recursive=True))


def read(relative_path):
    with open(os.path.join(ROOT, relative_path), encoding="utf-8") as file:
        return file.read()


@pytest.mark.parametrize("path", SOURCES)
def test_nothing_points_outside_the_repository(path):
    text = read(path)
    assert "../shared" not in text and "DESIGN.md" not in text, f"{path} points to a file a clone does not have"


def test_the_design_and_the_papers_are_in_docs():
    design = read("docs/design.md")
    for heading in ("## The contracts", "### The layer contract", "## numpy and cupy: one code path",
                    "## Known pitfalls"):
        assert heading in design
    readme = read("README.md")
    assert "(docs/design.md)" in readme and "(docs/papers.md)" in readme
    assert "docs/papers.md" in read("minicnn/lab/zoo.py")


@pytest.mark.parametrize("name", list(zoo.NETWORKS))
def test_papers_md_has_every_zoo_network_with_its_published_counts(name):
    network = zoo.NETWORKS[name]
    row = next((line for line in read("docs/papers.md").splitlines() if line.startswith(f"| {name} ")), None)
    assert row is not None, f"docs/papers.md has no table row for {name}"
    assert f"{network.trainable_params:,} + {network.non_trainable_params:,}" in row
    assert f"`{name}`" in read("docs/papers.md"), f"docs/papers.md does not describe {name}'s layers"


@pytest.mark.parametrize("path", DOCUMENTS)
def test_every_relative_link_of_the_docs_exists(path):
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", read(path)):
        if "://" in target:
            continue
        assert os.path.exists(os.path.join(ROOT, os.path.dirname(path), target)), f"{path} links to {target}"


def test_the_results_table_is_the_one_its_runs_make_and_free_of_process_notes():
    text = read("docs/results.md")
    for runs in ("runs", "candidate-runs"):
        table = results.results_table([os.path.join(ROOT, "docs", runs)])
        assert table in text, f"regenerate the table: minicnn results docs/{runs}"
    for note in ("queued", "not run yet", "come next"):
        assert note not in text


def test_the_readme_times_the_flagship_on_a_named_cpu():
    readme = read("README.md")
    timing = next(paragraph for paragraph in readme.split("\n\n") if paragraph.startswith("How long it takes"))
    assert re.search(r"one epoch of it .* took \d+(\.\d+)? s on .*(AMD|Intel) \w+", timing, re.DOTALL)
    assert "extrapolated" in timing and "80-110 minutes" not in readme
