"""The student's notebook runs headless, start to end, on the reference solution, with short settings
(MINICNN_NOTEBOOK_IMAGES caps every training cell's images), as CI runs it."""
import re

import nbclient
import nbformat

from minicnn import cli


def test_the_notebook_runs_on_the_reference_solution(tmp_path, monkeypatch, capsys, fashion_mnist_installed):
    folder = tmp_path / "hw"
    assert cli.main(["assignment", "make", "all", "--out", str(folder), "--solution"]) == 0
    capsys.readouterr()
    monkeypatch.setenv("MINICNN_NOTEBOOK_IMAGES", "64")
    notebook = nbformat.read(folder / "assignment.ipynb", as_version=4)
    nbformat.validate(notebook)
    nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(folder)}}).execute()   # raises on a cell's error
    printed = "\n".join(output.get("text", "") for cell in notebook.cells if cell.cell_type == "code"
                        for output in cell.outputs)
    assert "FAILED" not in printed and "WRONG" not in printed, printed
    assert "IProgress not found" not in printed   # tqdm.auto's warning where ipywidgets is missing
    assert printed.count("every value is right") == 11 and printed.count("drawn cases passed") == 11
    initial = float(re.search(r"initial loss (\d+\.\d+); uniform guessing over 10 classes gives ln 10 = 2\.303",
                              printed).group(1))
    assert abs(initial - 2.303) < 0.5, printed   # an untrained network: about ln 10
    overfit = int(re.search(r"accuracy on these 64 training images: (\d+)%", printed).group(1))
    assert overfit >= 90, printed
    assert re.search(r"one epoch on 64 images: \d+\.\d% of 64 test images classified right", printed), printed
    figures = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs
               if "image/png" in output.get("data", {})]
    assert re.search(r"the network answers [\w/ -]+ for the fooling image \(the target: [\w/ -]+\)", printed), printed
    assert len(figures) == 4   # the overfitting curves, the flagship's, its saliency maps and a fooling image
