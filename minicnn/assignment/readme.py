"""The student's README.md: what to implement, where the math is, how to check and how to hand in."""

README = """\
# Assignment: {titles}

Made with minicnn {version} by `minicnn assignment make {parts}`.

## What to implement

{todo}

The other functions in `student/` are given: they are written the same way (read them, they help), and
your functions run beside them. Each docstring states the inputs, the outputs with their shapes, and what
the cache holds; write the body where `raise NotImplementedError` stands (delete that line). The math,
step by step, is in minicnn's docs/ (each part above says where){docs_copy}. Three rules the tests check:

- return exactly what the docstring says (a tuple `(out, cache)` from a forward; from a backward the
  gradient of every input, each with the shape of that input);
- keep the dtype you are given: float32 in, float32 out (allocate with `dtype=x.dtype`, keep constants
  Python floats);
- never change an input in place (`x += ...`, `x[...] = ...`): write into new arrays.

## How to work

Open `assignment.ipynb` (Jupyter) and go through it cell by cell: for each part, compare your functions
with the expected values, then gradient-check them; then the initial loss, overfitting 100 images, and one
short epoch of the flagship network with your layers. It needs minicnn with its assignment extra
(`pip install -e '.[assignment]'` in minicnn's folder) and Fashion-MNIST (found or downloaded by minicnn).

## How to check

```bash
minicnn assignment grade .                # every test, one line each with its points
minicnn assignment grade . --only {first}    # the tests of one part while you work on it
```

The tests, for each part: **expected values** (your functions on the fixed inputs in
`grading/expected/`, against the reference solution's outputs), **shapes and dtypes** (every returned
array, in float32 and float64, inputs left unchanged), **gradient check** (cases drawn by hypothesis, the
same for everyone, against central differences; for the update rules: against the reference rule on drawn
settings); and **it trains**: your layers, loss and Adam in a small network must learn a few hundred
Fashion-MNIST images. Each test runs in a process of its own under a time limit: code that hangs or
crashes loses that test only. The points are in `grading/points.json`.

## How to hand in

Hand in the files of `student/` you wrote ({files}), the way your teacher says (on Gradescope: upload
them, at the top of the upload or in one folder). Your teacher's grader runs the same tests, on these
public cases and on hidden cases of the same kinds drawn for your class: a solution that is right passes
both; one tuned to the public cases does not.
"""


def student_readme(parts, command, version, docs_copied):
    """README.md for an assignment of ``parts``, made by ``command``."""
    todo = "\n".join(f"- `student/{part.module}.py`: {part.title}: "
                     + ", ".join(f"`{name}`" for name in part.functions)
                     + f" ({part.reading})" for part in parts)
    return README.format(titles=", ".join(part.title for part in parts), version=version, parts=command,
                         todo=todo, first=parts[0].name,
                         files=", ".join(f"`student/{part.module}.py`" for part in parts),
                         docs_copy=", copied into this folder's docs/" if docs_copied
                         else " (in minicnn's source repository)")
