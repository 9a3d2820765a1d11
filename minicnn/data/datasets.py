"""Finding, downloading and checking MNIST and Fashion-MNIST.

A directory the caller names (`data_dir`) is the one used: the four IDX files
(each plain or .gz) are read from there, the missing ones downloaded into it
when downloads are allowed, and otherwise the call fails naming that directory
and the files it lacks. No other copy of the data ever stands in for it.

With no `data_dir`, `load_fashion_mnist()` looks in, in order:

1. `$MINICNN_DATA/<name>`, then `$MINICNN_DATA` itself;
2. the user cache, `$XDG_CACHE_HOME/minicnn/<name>` (default `~/.cache/...`);
3. system directories (Debian's `dataset-fashion-mnist` package installs to
   /usr/share/datasets/fashion-mnist).

The first directory holding all four files wins. If none does and downloads
are allowed, the files are fetched into the user cache. Downloads are
verified, and only then moved into place, so an interrupted or corrupt
download never replaces or imitates a good file. `locate_fashion_mnist()`
returns the directory the data comes from (after any download), for a run to
print and record. Checksums are checked on
download; files found on disk are checked for structure (header, length,
counts, label range) but not hashed, which keeps loading fast.

`<name>` is "fashion-mnist" or "mnist"; keep each dataset in its own folder,
since both use the same file names.
"""
import collections
import hashlib
import http.client
import os
import urllib.request

import numpy as np

from minicnn.data.idx import DatasetError, decompress_if_gzip, parse_idx, read_idx
from minicnn.data.files import atomic_write

try:
    try:
        import ipywidgets  # noqa: F401  (tqdm.auto's notebook bar needs it; without it tqdm.auto warns)
        from tqdm.auto import tqdm
    except ImportError:
        from tqdm import tqdm
except ImportError:  # progress bars are a nicety, not a dependency
    tqdm = None

FILE_NAMES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
IMAGE_SHAPE = (28, 28)
NUM_CLASSES = 10

DISPLAY_NAMES = {"fashion-mnist": "Fashion-MNIST", "mnist": "MNIST"}
CLASS_NAMES = {
    "fashion-mnist": ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                      "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
    "mnist": tuple(str(digit) for digit in range(10)),
}

# Tried in order, each followed by "<file name>.gz". Tests point these at a
# local server; users behind a proxy can point them at their own mirror.
BASE_URLS = {
    "fashion-mnist": [
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
    ],
    "mnist": [
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "http://yann.lecun.com/exdb/mnist/",  # the original; torchvision's second mirror
    ],
}

SYSTEM_DIRS = {
    "fashion-mnist": ["/usr/share/datasets/fashion-mnist"],
    "mnist": [],
}

# A checksum of either the file as downloaded (gzip bytes) or its content
# after gunzip. Fashion-MNIST's are of the content, because Debian recompresses
# the .gz files; MNIST's are torchvision's MD5s of the original .gz files.
Checksum = collections.namedtuple("Checksum", "algorithm hexdigest of_decompressed")

CHECKSUMS = {
    "fashion-mnist": {
        "train-images-idx3-ubyte": Checksum(
            "sha256", "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888", True),
        "train-labels-idx1-ubyte": Checksum(
            "sha256", "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9", True),
        "t10k-images-idx3-ubyte": Checksum(
            "sha256", "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b", True),
        "t10k-labels-idx1-ubyte": Checksum(
            "sha256", "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34", True),
    },
    "mnist": {
        "train-images-idx3-ubyte": Checksum("md5", "f68b3c2dcbeaaa9fbdd348bbdeb94873", False),
        "train-labels-idx1-ubyte": Checksum("md5", "d53e105ee54ea40749a09fcbcd1e9432", False),
        "t10k-images-idx3-ubyte": Checksum("md5", "9fb629c4189551a2d022fa330f9573f3", False),
        "t10k-labels-idx1-ubyte": Checksum("md5", "ec29112dd5afa0611ce80d1b7f02629c", False),
    },
}

DOWNLOAD_TIMEOUT_SECONDS = 30
# What a failed connection raises: URLError and HTTPError are OSErrors, and
# http.client raises its own exceptions for a dropped or garbled response.
NETWORK_ERRORS = (OSError, http.client.HTTPException)


def load_fashion_mnist(data_dir=None, download=True):
    """Fashion-MNIST, like keras.datasets.fashion_mnist.load_data().

    Inputs:
    - data_dir: str or os.PathLike or None; the directory to use (the
      missing files are downloaded into it); None searches (module docstring).
    - download: bool; fetch (and verify) the files that are missing.

    Returns ((x_train, y_train), (x_test, y_test)), host numpy arrays:
    x_* uint8 of shape (N, 28, 28) in 0..255, y_* int64 of shape (N,) in
    0..9; N is 60000 for train and 10000 for test.
    Raises FileNotFoundError (naming every directory searched, or the one
    given and the files it lacks) if the data cannot be had; DatasetError if
    a file is corrupt or fails its checksum.
    """
    return load_idx_dataset("fashion-mnist", data_dir, download)


def load_mnist(data_dir=None, download=True):
    """Classic MNIST digits; same inputs, outputs and errors as load_fashion_mnist."""
    return load_idx_dataset("mnist", data_dir, download)


def locate_fashion_mnist(data_dir=None, download=True):
    """The directory Fashion-MNIST is read from (str), downloading into it first if need be;
    same inputs and errors as load_fashion_mnist, which reads that directory."""
    return locate_idx_dataset("fashion-mnist", data_dir, download)


def load_idx_dataset(name, data_dir=None, download=True):
    """Find (or download) and load the four IDX files of dataset `name`
    ("fashion-mnist" or "mnist"); see load_fashion_mnist for the contract."""
    return load_from_paths(find_files(locate_idx_dataset(name, data_dir, download)))


def locate_idx_dataset(name, data_dir=None, download=True):
    """The directory (str) holding all four IDX files of dataset `name`: `data_dir`
    itself when given, else the first of candidate_dirs; see load_fashion_mnist."""
    if name not in DISPLAY_NAMES:
        raise ValueError(f"unknown dataset {name!r}: choose one of {sorted(DISPLAY_NAMES)}")
    searched = candidate_dirs(name, data_dir)
    for directory in searched:
        if None not in find_files(directory).values():
            return directory

    download_failures = []
    if download:
        target_dir = searched[0] if data_dir is not None else cache_dir(name)
        download_failures = download_missing(name, target_dir)
        if not download_failures:
            return target_dir
    if data_dir is not None:
        raise FileNotFoundError(not_in_given_dir_message(name, searched[0], download, download_failures))
    raise FileNotFoundError(not_found_message(name, searched, download, download_failures))


def candidate_dirs(name, data_dir=None):
    """The directories searched for dataset `name`, in order (list of str):
    just `data_dir` when one is given. Read from the environment at call time,
    so changes to it take effect."""
    if data_dir is not None:
        return [os.fspath(data_dir)]
    dirs = []
    env_dir = os.environ.get("MINICNN_DATA")
    if env_dir:
        dirs += [os.path.join(env_dir, name), env_dir]
    dirs.append(cache_dir(name))
    dirs += SYSTEM_DIRS[name]
    return dirs


def cache_dir(name):
    """The user cache for dataset `name`: $XDG_CACHE_HOME/minicnn/<name>,
    with XDG_CACHE_HOME defaulting to ~/.cache."""
    cache_home = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(cache_home, "minicnn", name)


def find_files(directory):
    """Map each of FILE_NAMES to its path in `directory` (plain preferred
    over .gz), or to None where neither exists."""
    paths = {}
    for file_name in FILE_NAMES:
        found = [os.path.join(directory, file_name + suffix) for suffix in ("", ".gz")]
        paths[file_name] = next((path for path in found if os.path.isfile(path)), None)
    return paths


def load_from_paths(paths):
    """Read and cross-check the four files named by `paths` (from find_files).
    Returns ((x_train, y_train), (x_test, y_test)) as in load_fashion_mnist."""
    splits = []
    for split in ("train", "t10k"):
        images_path = paths[f"{split}-images-idx3-ubyte"]
        labels_path = paths[f"{split}-labels-idx1-ubyte"]
        images, labels = read_idx(images_path), read_idx(labels_path)
        if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != IMAGE_SHAPE:
            raise DatasetError(
                f"{images_path}: expected uint8 images of shape (N, 28, 28), "
                f"got {images.dtype} of shape {images.shape}"
            )
        if labels.dtype.kind not in "iu" or labels.ndim != 1:
            raise DatasetError(
                f"{labels_path}: expected integer labels of shape (N,), "
                f"got {labels.dtype} of shape {labels.shape}"
            )
        if len(images) != len(labels):
            raise DatasetError(
                f"{images_path} holds {len(images)} images but {labels_path} holds "
                f"{len(labels)} labels; one of them is from another dataset or damaged"
            )
        out_of_range = (labels < 0) | (labels >= NUM_CLASSES)
        if out_of_range.any():
            first = int(np.argmax(out_of_range))
            raise DatasetError(
                f"{labels_path}: label {labels[first]} at index {first} is outside 0..{NUM_CLASSES - 1}"
            )
        splits.append((images, labels.astype(np.int64)))
    return tuple(splits)


def download_missing(name, target_dir):
    """Download every file of dataset `name` that `target_dir` lacks.

    Returns a list of "url: error" strings when a file could not be fetched
    from any URL because of network errors (empty on success); it stops at
    the first such file, since the others would fail the same way. Raises
    DatasetError if a file arrived but failed verification at every URL;
    a file that fails verification is never written.
    """
    # no directory is made before a file has arrived (atomic_write makes it): a failed
    # download into a mistyped --data-dir leaves nothing behind
    for file_name, path in find_files(target_dir).items():
        if path is not None:
            continue
        network_failures, verification_failures = [], []
        for base_url in BASE_URLS[name]:
            url = base_url + file_name + ".gz"
            try:
                data = fetch(url, file_name)
                verify(data, url, CHECKSUMS[name].get(file_name))
            except DatasetError as error:
                verification_failures.append(str(error))
                continue
            except NETWORK_ERRORS as error:
                network_failures.append(f"{url}: {error}")
                continue
            with atomic_write(os.path.join(target_dir, file_name + ".gz")) as file:
                file.write(data)
            break
        else:
            if verification_failures:
                raise DatasetError("\n".join(verification_failures + network_failures))
            return network_failures
    return []


def fetch(url, label):
    """The bytes at `url`, with a tqdm progress bar titled `label` when tqdm
    is installed. Raises one of NETWORK_ERRORS on failure."""
    with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_SECONDS) as response:
        total = int(response.headers.get("Content-Length") or 0) or None
        progress = None if tqdm is None else tqdm(total=total, unit="B", unit_scale=True, desc=label)
        chunks = []
        try:
            while chunk := response.read(1 << 16):
                chunks.append(chunk)
                if progress is not None:
                    progress.update(len(chunk))
        finally:
            if progress is not None:
                progress.close()
    data = b"".join(chunks)
    if total is not None and len(data) != total:
        raise http.client.IncompleteRead(data, total - len(data))
    return data


def verify(data, url, checksum):
    """Check downloaded `data` (bytes, usually gzip) against `checksum` (a
    Checksum, or None to check the IDX structure only). Raises DatasetError
    naming the URL and the expected and actual digests."""
    content = decompress_if_gzip(data, url)
    if checksum is not None:
        hashed, what = (content, "decompressed") if checksum.of_decompressed else (data, "downloaded")
        actual = hashlib.new(checksum.algorithm, hashed).hexdigest()
        if actual != checksum.hexdigest:
            raise DatasetError(
                f"{url}: checksum mismatch: expected {checksum.algorithm} {checksum.hexdigest} "
                f"of the {what} file, got {actual}; the file was not saved"
            )
    parse_idx(content, url)


def not_found_message(name, searched, download_allowed, download_failures):
    """The FileNotFoundError text: what was searched and how to get the data."""
    display = DISPLAY_NAMES[name]
    lines = [f"{display} not found. Looked for {', '.join(FILE_NAMES)} (each plain or .gz) in:"]
    lines += [f"  {directory}  ({what_is_missing(directory)})" for directory in searched]
    lines += download_failure_lines(download_failures)
    lines.append("To get the data, do one of:")
    if name == "fashion-mnist":
        lines.append("  - sudo apt-get install dataset-fashion-mnist  (Debian/Ubuntu)")
    lines.append("  - put the four files in a directory and set MINICNN_DATA to it")
    if download_allowed:
        lines.append(f"  - connect to the internet and call again (files come from {BASE_URLS[name][0]})")
    else:
        lines.append("  - allow the download: pass download=True")
    return "\n".join(lines)


def not_in_given_dir_message(name, directory, download_allowed, download_failures):
    """The FileNotFoundError text for a data directory the caller named: which files it lacks and why
    they could not be had; no other directory is searched in its place."""
    lines = [f"{DISPLAY_NAMES[name]} is not in the data directory given, {directory} ({what_is_missing(directory)}; "
             f"each file may be plain or .gz)"]
    lines += download_failure_lines(download_failures)
    lines.append("To get the data, do one of:")
    lines.append(f"  - put {', '.join(FILE_NAMES)} in {directory}")
    if download_allowed:
        lines.append(f"  - connect to the internet and call again (files come from {BASE_URLS[name][0]})")
    else:
        lines.append("  - allow the download: pass download=True")
    lines.append("  - give no data directory: then $MINICNN_DATA, the user cache and the system directories "
                 "are searched")
    return "\n".join(lines)


def what_is_missing(directory):
    """'no such directory', 'none of the files' or 'missing t10k-labels-idx1-ubyte, ...'."""
    if not os.path.isdir(directory):
        return "no such directory"
    missing = [file for file, path in find_files(directory).items() if path is None]
    if len(missing) == len(FILE_NAMES):
        return "none of the files"
    return f"missing {', '.join(missing)}"


def download_failure_lines(download_failures):
    """The lines saying why the download failed, if it was tried and did."""
    if not download_failures:
        return []
    return ["The download failed:"] + [f"  {failure}" for failure in download_failures]
