"""The library's docstrings and comments say what the code does; measured speed lives in docs/benchmarks.md.

A timing in code goes stale on the next machine (the same 2-core kind has been an AMD EPYC and an
Intel Xeon, with different ratios): every figure belongs in docs/benchmarks.md, beside the machine
and the command that measured it.
"""
import ast
import io
import pathlib
import re
import tokenize

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "minicnn"

BENCHMARK_FIGURES = re.compile(
    r"\d+(\.\d+)? ?(ms|us|µs)\b"        # 48.3 ms, 12-22 us
    r"|\b\d+(\.\d+)?x\b"                # 1.39x, 3.0x faster
    r"|\btimes faster\b|\bGFLOP/s\b"
    r"|\bEPYC\b|\bXeon\b|load average",
    re.IGNORECASE)


def docstrings_and_comments(source):
    """(line, text) of every docstring (module, class, function) and every comment of a Python source."""
    found = []
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            docstring = ast.get_docstring(node, clean=False)
            if docstring:
                found.append((node.body[0].lineno, docstring))
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            found.append((token.start[0], token.string))
    return found


def figures_in(package):
    """'path:line: text' for each docstring or comment under ``package`` that holds a benchmark figure."""
    hits = []
    for path in sorted(package.rglob("*.py")):
        for line, text in docstrings_and_comments(path.read_text(encoding="utf-8")):
            for match in BENCHMARK_FIGURES.finditer(text):
                hits.append(f"{path.relative_to(package.parent)}:{line}: ...{match.group(0)}...")
    return hits


def test_no_docstring_or_comment_in_the_library_holds_a_benchmark_figure():
    hits = figures_in(PACKAGE)
    assert not hits, "move these figures to docs/benchmarks.md, with their machine:\n" + "\n".join(hits)


@pytest.mark.parametrize("text", ["forward 3.25 -> 1.65 ms", "1.39x", "took 12-22 us", "(AMD EPYC, 2 cores)",
                                  "an Intel Xeon", "load average 5.6", "3 times faster", "63 GFLOP/s"])
def test_the_check_finds_each_kind_of_figure(tmp_path, text):
    source = f'"""A layer."""\n\n\ndef f():\n    """Fast: {text}."""\n    return 1  # {text}\n'
    (tmp_path / "layer.py").write_text(source)
    assert len(figures_in(tmp_path)) == 2


@pytest.mark.parametrize("text", ["a (3, 3) window", "kh x kw offsets", "32x32 images", "in milliseconds",
                                  "2 x 2 pooling", "x2 flops"])
def test_the_check_leaves_shapes_and_words_alone(tmp_path, text):
    (tmp_path / "layer.py").write_text(f'"""{text}."""\n# {text}\n')
    assert figures_in(tmp_path) == []
