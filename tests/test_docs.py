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


def code_blocks(markdown):
    """(language, first line number, last line number, code) of every fenced block, in order."""
    blocks, opened = [], None
    for number, line in enumerate(markdown.splitlines(), start=1):
        if line.startswith("```"):
            if opened is None:
                opened = (line[3:].strip(), number, [])
            else:
                blocks.append((opened[0], opened[1], number, "\n".join(opened[2])))
                opened = None
        elif opened is not None:
            opened[2].append(line)
    return blocks


def test_the_readme_sets_up_in_two_commands_with_the_quick_try_beside_the_first():
    readme = read("README.md")
    blocks = code_blocks(readme)
    set_ups = [index for index, block in enumerate(blocks) if block[3].startswith("python3 -m venv")]
    assert [blocks[index][3] for index in set_ups] == [
        "python3 -m venv .venv && . .venv/bin/activate && pip install -e '.[examples]' && python examples/enhanced_cnn.py",
        "python3 -m venv .venv && . .venv/bin/activate && pip install -e '.[test]' && python -m pytest"]
    first = set_ups[0]
    quick_try = blocks[first + 1][3]
    assert quick_try.startswith("python examples/enhanced_cnn.py --limit"), "the quick try comes right after"
    lines = readme.splitlines()
    before = "\n".join(lines[blocks[first - 1][2]:blocks[first][1]])   # the text just above the first command
    assert re.search(r"\d+ to \d+ minutes", before), "say what the first command takes before it"
    between = "\n".join(lines[blocks[first][2]:blocks[first + 1][1]])
    assert re.search(r"\d+ seconds", between), "say what the quick try takes"
    timing = next(paragraph for paragraph in readme.split("\n\n") if paragraph.startswith("How long the full run"))
    assert re.search(r"took \d+(\.\d+)? s on an idle 2-core (AMD|Intel) \w+", timing) and "extrapolated" in timing


def test_the_readme_opens_with_an_example_that_runs(monkeypatch, capsys, tmp_path, small_fashion_mnist):
    language, first_line, last_line, code = next(block for block in code_blocks(read("README.md"))
                                                 if block[0] == "python")
    assert last_line <= 40, f"the README's first example ends on line {last_line}: bring it into the first 40"
    # the same code on 200 small random images instead of Fashion-MNIST: it looks in $MINICNN_DATA first
    monkeypatch.setenv("MINICNN_DATA", str(small_fashion_mnist(tmp_path / "data")))
    exec(compile(code, "README.md's first example", "exec"), {})
    printed = capsys.readouterr().out
    assert "Trainable params: 422,474" in printed and "Non-trainable params: 448" in printed
    assert re.search(r"test accuracy after one epoch: \d+\.\d\d%", printed)


def table_rows(markdown, header_start):
    """The rows of the Markdown table whose header line starts with ``header_start``, as dicts by column."""
    lines = markdown.splitlines()
    start = next(index for index, line in enumerate(lines) if line.startswith(header_start))
    columns = [cell.strip() for cell in lines[start].strip("|").split("|")]
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append(dict(zip(columns, (cell.strip() for cell in line.strip("|").split("|")))))
    return rows


def papers_row_by_network():
    """docs/results.md's first table, the zoo recipe's row of each network (its label is the bare name)."""
    rows = table_rows(read("docs/results.md"), "| network | parameters: ours (paper) |")
    return {row["network"]: row for row in rows if row["network"] in zoo.NETWORKS}


def test_the_readme_accuracies_are_those_of_the_results_table():
    results_rows = papers_row_by_network()
    readme_rows = table_rows(read("README.md"), "| network | paper |")
    assert {row["network"].split()[0] for row in readme_rows} == set(results_rows)
    for row in readme_rows:
        result = results_rows[row["network"].split()[0]]
        assert row["paper: accuracy (split)"] == result["paper: accuracy (split)"], row["network"]
        assert row["ours: test accuracy"] == result["ours: test accuracy"], row["network"]
        assert row["ours: validation accuracy"] == result["ours: validation accuracy of the tested weights"]
        assert result["parameters: ours (paper)"].startswith(row["parameters (trainable + non-trainable)"] + " (")


def test_the_readme_counts_the_papers_it_meets_and_misses_as_the_results_table_does():
    number = {"no": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
              "nine": 9}
    met, missed = 0, []
    for row in papers_row_by_network().values():
        reported = re.fullmatch(r"([\d.]+)% \((test|validation)\)", row["paper: accuracy (split)"])
        if reported is None:
            continue
        column = "ours: test accuracy" if reported[2] == "test" else "ours: validation accuracy of the tested weights"
        ours = float(re.match(r"[\d.]+", row[column])[0])
        if ours >= float(reported[1]):
            met += 1
        else:
            missed.append(round(float(reported[1]) - ours, 2))
    claim = re.search(r"(\w+) of them reach or beat the paper's figure,\s+(\w+) end ([\d.]+) to ([\d.]+) points "
                      r"under it", read("README.md"))
    assert claim, "the README says how many networks reach their paper's figure"
    assert (number[claim[1].lower()], number[claim[2].lower()]) == (met, len(missed))
    assert (float(claim[3]), float(claim[4])) == (min(missed), max(missed))


def test_every_accuracy_with_a_spread_in_the_readme_is_in_the_results():
    results_text = read("docs/results.md")
    for claim in re.findall(r"\d+\.\d\d% ± \d+\.\d\d", read("README.md")):
        assert claim in results_text, f"the README claims {claim}, which docs/results.md does not give"


def sentences(markdown):
    """The sentences of a Markdown text's paragraphs and list items (code, tables, headings left out)."""
    text = re.sub(r"^```.*?^```", "", markdown, flags=re.DOTALL | re.MULTILINE)
    units, current = [], []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or line.startswith(("|", "    ", "#", "![")) or stripped.startswith("- "):
            units.append(" ".join(current))
            current = [stripped[2:]] if stripped.startswith("- ") else []
        else:
            current.append(stripped)
    units.append(" ".join(current))
    found = []
    for unit in units:
        unit = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", re.sub(r"`[^`]*`", "CODE", unit))
        found += [piece for piece in re.split(r"(?<=[.!?])\s+", unit) if piece.strip()]
    return found


def test_the_results_page_starts_with_its_table_and_reads_in_short_sentences():
    text = read("docs/results.md")
    headings = [line for line in text.splitlines() if line.startswith("## ")]
    assert headings[0] == "## Every network"
    assert text.index("| network | parameters: ours (paper) |") < text.index(headings[1])
    longest = max(sentences(text), key=lambda sentence: len(sentence.split()))
    assert len(longest.split()) <= 45, f"a sentence of {len(longest.split())} words: {longest[:120]}..."


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
