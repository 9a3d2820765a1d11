"""The per-paper example scripts: every one answers --help, and Saraswat et al.'s runs end to end on a --limit."""
import glob
import os
import runpy
import sys

import pytest
from threadpoolctl import threadpool_limits

EXAMPLES = os.path.join(os.path.dirname(__file__), os.pardir, "examples")
SCRIPTS = sorted(os.path.basename(path) for path in glob.glob(os.path.join(EXAMPLES, "*.py")))


def example_main(name, monkeypatch, *arguments):
    """The main() of examples/NAME, loaded as the script would be, with sys.argv set to match."""
    monkeypatch.setattr(sys, "argv", [name] + list(arguments))
    return runpy.run_path(os.path.join(EXAMPLES, name), run_name="example")["main"]


def test_there_is_a_script_per_paper():
    assert {"band_et_al_cnn.py", "awasthi_soni_basic_vs_enhanced.py", "ann_vs_cnn_report.py",
            "saraswat_pca_dnn_vs_cnn.py", "miniproject_basic_vs_enhanced.py", "enhanced_cnn.py"} <= set(SCRIPTS)


@pytest.mark.parametrize("name", SCRIPTS)
def test_every_example_answers_help(name, monkeypatch, capsys):
    with pytest.raises(SystemExit) as exit_info:
        example_main(name, monkeypatch, "--help")(["--help"])
    assert exit_info.value.code == 0
    printed = capsys.readouterr().out
    assert "--limit" in printed and "--epochs" in printed and "--out-dir" in printed


def test_saraswat_example_draws_the_data_and_compares_both_networks(tmp_path, monkeypatch, capsys,
                                                                    fashion_mnist_installed):
    arguments = ["--limit", "300", "--epochs", "1", "--tsne-samples", "150", "--out-dir", str(tmp_path)]
    # t-SNE's OpenMP threads spin against each other on a busy 2-core machine (see test_plots.py);
    # threadpool_limits reaches only libraries already loaded, so load scikit-learn's first
    pytest.importorskip("sklearn.manifold")
    with threadpool_limits(limits=1):
        assert example_main("saraswat_pca_dnn_vs_cnn.py", monkeypatch, *arguments)(arguments) == 0
    for name in ("samples.png", "pca_variance.png", "pca_2d.png", "pca_3d.png", "tsne.png"):
        assert (tmp_path / "data" / name).stat().st_size > 0, name
    for network in ("saraswat-pca-dnn", "saraswat-cnn"):
        for name in ("report.txt", "curves.png", "confusion.png", "misclassified.png", "model.npz"):
            assert (tmp_path / network / name).stat().st_size > 0, (network, name)
    assert (tmp_path / "saraswat-pca-dnn" / "pca.npz").exists()
    comparison = (tmp_path / "comparison.md").read_text()
    assert "| saraswat-pca-dnn |" in comparison and "| saraswat-cnn | saraswat-cnn |" in comparison
    assert "262,890 + 224" in comparison and "89.70% (test)" in comparison
    assert (tmp_path / "comparison.png").stat().st_size > 0
    printed = capsys.readouterr().out
    assert "Trainable params: 262,890" in printed and "PCA:" in printed


def test_saraswat_example_can_draw_the_figures_alone(tmp_path, monkeypatch, fashion_mnist_installed):
    arguments = ["--figures-only", "--limit", "200", "--tsne-samples", "60", "--out-dir", str(tmp_path)]
    pytest.importorskip("sklearn.manifold")
    with threadpool_limits(limits=1):
        assert example_main("saraswat_pca_dnn_vs_cnn.py", monkeypatch, *arguments)(arguments) == 0
    assert sorted(os.listdir(tmp_path / "data")) == ["pca_2d.png", "pca_3d.png", "pca_variance.png", "samples.png",
                                                     "tsne.png"]
    assert sorted(os.listdir(tmp_path)) == ["data"]   # nothing trained
