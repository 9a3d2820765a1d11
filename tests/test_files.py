"""atomic_write: the whole new file or the old one, never a part, and the permissions a plain open() gives."""
import os

import pytest

from minicnn.data.files import atomic_write


@pytest.fixture
def umask_022():
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def test_a_written_file_has_the_permissions_of_a_plain_open(tmp_path, umask_022):
    with atomic_write(tmp_path / "report.txt", "w") as file:
        file.write("test accuracy 0.92\n")
    with open(tmp_path / "plain.txt", "w") as file:
        file.write("x")
    assert os.stat(tmp_path / "report.txt").st_mode & 0o777 == 0o644   # readable by others, as a shared cache needs
    assert os.stat(tmp_path / "report.txt").st_mode & 0o777 == os.stat(tmp_path / "plain.txt").st_mode & 0o777


def test_a_failed_write_keeps_the_old_file_and_leaves_no_part(tmp_path):
    path = tmp_path / "config.json"
    path.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_write(path, "w") as file:
            file.write("half of the new")
            raise RuntimeError("disk full")
    assert path.read_text() == "old" and os.listdir(tmp_path) == ["config.json"]
