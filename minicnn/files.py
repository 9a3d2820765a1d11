"""Writing files so that a crash never leaves half of one behind."""
import contextlib
import os
import uuid


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
