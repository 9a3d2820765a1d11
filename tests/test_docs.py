"""The documentation a fresh clone needs is inside the repository, and what it links to exists."""
import argparse
import glob
import os
import re

import pytest

from minicnn.cli.parser import build_parser
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


# A paper is named by its authors (or its title), never by the number of the file it was read from.
STORAGE_LABEL = re.compile(r"\bseeds? 00\d|\bseed_?00\d", re.IGNORECASE)
PRODUCT_FILES = sorted({os.path.relpath(path, ROOT) for pattern in (
    "minicnn/**/*.py", "examples/*.py", "benchmarks/*", "README.md", "docs/**/*.md")
    for path in glob.glob(os.path.join(ROOT, pattern), recursive=True) if os.path.isfile(path)})


@pytest.mark.parametrize("path", PRODUCT_FILES)
def test_no_paper_is_named_by_a_storage_label(path):
    for number, line in enumerate(read(path).splitlines(), start=1):
        assert not STORAGE_LABEL.search(line), f"{path}:{number} names a paper by a label: {line.strip()}"


def help_texts(parser, prog="minicnn"):
    """(prog, --help text) of the parser and of every subcommand below it."""
    yield prog, parser.format_help()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, subparser in action.choices.items():
                yield from help_texts(subparser, f"{prog} {name}")


def test_no_help_text_names_a_paper_by_a_storage_label():
    texts = dict(help_texts(build_parser()))
    assert {"minicnn sweep", "minicnn assignment make"} <= set(texts)
    for prog, text in texts.items():
        assert not STORAGE_LABEL.search(" ".join(text.split())), f"`{prog} --help` names a paper by a label"


@pytest.mark.parametrize("path", ["README.md", "docs/papers.md", "docs/results.md", "docs/gpu.md"])
def test_the_docs_speak_of_the_product_not_of_its_development(path):
    text = read(path)
    for words in (r"\bsessions?\b", r"\bissue \d+", r"unfinished-runs", r"this project's"):
        assert not re.search(words, text, re.IGNORECASE), f"{path} says {words!r}"


def test_no_unfinished_runs_folder_at_the_top_of_a_clone():
    assert not os.path.exists(os.path.join(ROOT, "unfinished-runs")), \
        "a run carried across machines goes in a folder of docs/runs/ named for what it is (docs/results.md)"
