"""Writing files so that a crash never leaves half of one behind, and saying what is wrong with one that is."""
import contextlib
import json
import os
import uuid
import zipfile

import numpy as np


ZIP_MAGIC = b"PK\x03\x04"   # how every .npz (a zip archive) begins


def npz_fault(path):
    """Why ``path`` cannot be read as a minicnn .npz, in words a person can act on, or None when none of
    these is the reason: no such file, an empty file, or one that begins as an .npz but is cut short or
    damaged (a copy or a save that did not finish)."""
    path = os.fspath(path)
    if not os.path.exists(path):
        return f"{path}: no such file"
    with open(path, "rb") as file:
        head = file.read(len(ZIP_MAGIC))
    if not head:
        return f"{path}: the file is empty (truncated: a copy or a save that did not finish?)"
    if head == ZIP_MAGIC and not readable_zip(path):
        return (f"{path}: truncated or damaged: it begins as an .npz file but cannot be read to its end "
                "(a copy or a save that did not finish?); copy it again or make it again")
    return None


def readable_zip(path):
    """Whether ``path`` is a zip archive that reads to its end with every member's checksum right."""
    try:
        with zipfile.ZipFile(path) as archive:
            return archive.testzip() is None
    except (zipfile.BadZipFile, OSError, EOFError):
        return False


@contextlib.contextmanager
def atomic_write(path, mode="wb"):
    """Yield a file opened on a temporary file beside ``path``; rename it over ``path`` on success.

    A reader (or the next run) sees either the old file or the whole new one.
    If the block raises, the temporary file is removed and ``path`` is untouched.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    temporary = os.path.join(directory, f".{os.path.basename(path)}.{uuid.uuid4().hex[:12]}.part")
    # O_EXCL: never another's file. Mode 0666 less the umask, as open() gives (mkstemp's files are private, 0600)
    handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(handle, mode) as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise


def read_json(path):
    """The JSON in ``path`` (a run's config.json or history.json). A file that is not JSON raises ValueError
    naming it, since a table or figure that quietly left a run out would mislead more than no table."""
    with open(path, encoding="utf-8") as file:
        try:
            return json.load(file)
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}: not valid JSON ({error}); mend or remove it") from error


def write_npz_atomically(path, contents):
    """np.savez into ``path`` through atomic_write.

    Object arrays are refused: they could only be stored pickled, and
    checkpoints are read with allow_pickle=False.
    """
    contents = {key: np.asarray(value) for key, value in contents.items()}
    for key, value in contents.items():
        if value.dtype.hasobject:
            raise ValueError(f"cannot save {key!r} into {path}: object arrays would need pickle")
    with atomic_write(path) as file:
        np.savez(file, **contents)


def read_npz(path):
    """All arrays of an .npz file, loaded without pickle; ValueError naming the file if it is not one."""
    with open(path, "rb") as file:   # a missing file stays an OSError
        if not zipfile.is_zipfile(file):
            # np.load would take it for a pickle and suggest allow_pickle, which is never the answer here
            raise ValueError(f"{path}: not a minicnn .npz file (not a zip archive)")
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {key: archive[key] for key in archive.files}
    except OSError:
        raise
    except (ValueError, zipfile.BadZipFile, EOFError) as error:
        raise ValueError(f"{path}: not a valid minicnn checkpoint: {error}") from error
