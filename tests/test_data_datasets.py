"""Finding, downloading and checking the datasets, against files written to
tmp_path and a local HTTP server; never the internet or the real home cache."""
import gzip
import hashlib
import http.server
import os
import pathlib
import threading

import numpy as np
import pytest

from minicnn.data import DatasetError, datasets, load_fashion_mnist, load_mnist, write_idx
from minicnn.data.idx import idx_bytes

SYSTEM_FASHION_DIR = "/usr/share/datasets/fashion-mnist"
# Copied from docs/papers.md ("The data"): SHA-256 of the decompressed files.
PAPERS_SHA256 = {
    "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}
needs_system_data = pytest.mark.skipif(
    not all(os.path.exists(os.path.join(SYSTEM_FASHION_DIR, name + ".gz")) for name in PAPERS_SHA256),
    reason=f"Fashion-MNIST is not installed at {SYSTEM_FASHION_DIR} (apt-get install dataset-fashion-mnist)",
)


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """No real home, cache, environment directory, system directory or proxy."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    for variable in ("MINICNN_DATA", "http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setitem(datasets.SYSTEM_DIRS, "fashion-mnist", [])
    monkeypatch.setitem(datasets.SYSTEM_DIRS, "mnist", [])
    for name in datasets.BASE_URLS:  # a download a test did not plan for fails fast, offline
        monkeypatch.setitem(datasets.BASE_URLS, name, ["http://127.0.0.1:9/"])


def small_dataset(num_train=12, num_test=5, seed=0):
    """Random Fashion-MNIST-shaped arrays, in FILE_NAMES order."""
    rng = np.random.default_rng(seed)
    return {
        "train-images-idx3-ubyte": rng.integers(0, 256, (num_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, num_train, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (num_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, num_test, dtype=np.uint8),
    }


def write_dataset(directory, arrays, suffix=".gz"):
    directory.mkdir(parents=True, exist_ok=True)
    for file_name, array in arrays.items():
        write_idx(directory / (file_name + suffix), array)
    return directory


def assert_loaded(result, arrays):
    (x_train, y_train), (x_test, y_test) = result
    for loaded, file_name in zip((x_train, y_train, x_test, y_test), datasets.FILE_NAMES):
        np.testing.assert_array_equal(loaded, arrays[file_name])
    assert x_train.dtype == np.uint8 and x_train.shape[1:] == (28, 28)
    assert y_train.dtype == np.int64 and y_test.dtype == np.int64


# --- finding files -----------------------------------------------------------------------

@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_loads_from_data_dir_plain_or_gz(tmp_path, suffix):
    arrays = small_dataset()
    assert_loaded(load_fashion_mnist(write_dataset(tmp_path / "d", arrays, suffix), download=False), arrays)


def test_env_named_subdirectory_is_preferred_to_env_dir_itself(tmp_path, monkeypatch):
    named, flat = small_dataset(seed=1), small_dataset(seed=2)
    write_dataset(tmp_path / "env" / "mnist", named)
    write_dataset(tmp_path / "env", flat)
    monkeypatch.setenv("MINICNN_DATA", str(tmp_path / "env"))
    assert_loaded(load_mnist(download=False), named)
    assert_loaded(load_fashion_mnist(download=False), flat)


@pytest.mark.parametrize("xdg_set", [True, False])
def test_user_cache_respects_xdg_cache_home(tmp_path, monkeypatch, xdg_set):
    arrays = small_dataset()
    if xdg_set:
        write_dataset(tmp_path / "cache" / "minicnn" / "fashion-mnist", arrays)
    else:
        monkeypatch.delenv("XDG_CACHE_HOME")
        write_dataset(tmp_path / "home" / ".cache" / "minicnn" / "fashion-mnist", arrays)
    assert_loaded(load_fashion_mnist(download=False), arrays)


def test_search_order_data_dir_env_cache_system(tmp_path, monkeypatch):
    sets = [small_dataset(seed=seed) for seed in range(4)]
    given = write_dataset(tmp_path / "given", sets[0])
    write_dataset(tmp_path / "env", sets[1])
    write_dataset(tmp_path / "cache" / "minicnn" / "fashion-mnist", sets[2])
    system = write_dataset(tmp_path / "system", sets[3])
    monkeypatch.setitem(datasets.SYSTEM_DIRS, "fashion-mnist", [str(system)])
    monkeypatch.setenv("MINICNN_DATA", str(tmp_path / "env"))
    assert_loaded(load_fashion_mnist(given, download=False), sets[0])
    assert_loaded(load_fashion_mnist(download=False), sets[1])
    monkeypatch.delenv("MINICNN_DATA")
    assert_loaded(load_fashion_mnist(download=False), sets[2])
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "empty-cache"))
    assert_loaded(load_fashion_mnist(download=False), sets[3])


def test_an_incomplete_directory_in_the_search_is_skipped(tmp_path, monkeypatch):
    arrays = small_dataset()
    partial = write_dataset(tmp_path / "env", arrays)
    (partial / "t10k-labels-idx1-ubyte.gz").unlink()
    monkeypatch.setenv("MINICNN_DATA", str(partial))
    write_dataset(tmp_path / "cache" / "minicnn" / "fashion-mnist", arrays)
    assert_loaded(load_fashion_mnist(download=False), arrays)
    assert datasets.locate_fashion_mnist(download=False) == str(tmp_path / "cache" / "minicnn" / "fashion-mnist")


@pytest.mark.parametrize("given", ["missing", "empty", "three of four"])
def test_a_data_dir_given_is_used_or_refused_never_replaced_by_another_copy(tmp_path, given):
    arrays = small_dataset()
    write_dataset(tmp_path / "cache" / "minicnn" / "fashion-mnist", arrays)   # a good copy the search would find
    directory = tmp_path / "given"
    if given != "missing":
        directory.mkdir()
    if given == "three of four":
        write_dataset(directory, arrays)
        (directory / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(FileNotFoundError) as caught:
        load_fashion_mnist(directory, download=False)
    message = str(caught.value)
    assert f"is not in the data directory given, {directory} (" in message
    assert {"missing": "no such directory", "empty": "none of the files",
            "three of four": "missing t10k-labels-idx1-ubyte;"}[given] in message
    assert str(tmp_path / "cache") not in message, "only the directory given is looked at"
    with pytest.raises(FileNotFoundError, match="connect to the internet"):   # the download fails (offline)
        datasets.locate_fashion_mnist(directory)
    assert given != "missing" or not directory.exists(), "a failed download leaves no directory behind"


def test_not_found_lists_every_directory_searched_and_the_remedies(tmp_path, monkeypatch):
    partial = write_dataset(tmp_path / "env" / "fashion-mnist", small_dataset())
    (partial / "train-images-idx3-ubyte.gz").unlink()
    monkeypatch.setenv("MINICNN_DATA", str(tmp_path / "env"))
    monkeypatch.setitem(datasets.SYSTEM_DIRS, "fashion-mnist", [str(tmp_path / "system")])
    with pytest.raises(FileNotFoundError) as caught:
        load_fashion_mnist(download=False)
    message = str(caught.value)
    for directory in [partial, tmp_path / "env", tmp_path / "cache" / "minicnn" / "fashion-mnist",
                      tmp_path / "system"]:
        assert str(directory) in message
    assert "missing train-images-idx3-ubyte" in message
    assert "apt-get install dataset-fashion-mnist" in message
    assert "MINICNN_DATA" in message and "download=True" in message


# --- checking what was found -------------------------------------------------------------

def test_image_and_label_counts_must_match(tmp_path):
    arrays = small_dataset()
    arrays["t10k-labels-idx1-ubyte"] = arrays["t10k-labels-idx1-ubyte"][:-1]
    directory = write_dataset(tmp_path / "d", arrays)
    with pytest.raises(DatasetError) as caught:
        load_fashion_mnist(directory, download=False)
    assert str(directory / "t10k-images-idx3-ubyte.gz") in str(caught.value)
    assert str(directory / "t10k-labels-idx1-ubyte.gz") in str(caught.value)


def test_labels_outside_0_to_9_are_rejected(tmp_path):
    arrays = small_dataset()
    arrays["train-labels-idx1-ubyte"][3] = 10
    directory = write_dataset(tmp_path / "d", arrays)
    with pytest.raises(DatasetError, match=r"train-labels-idx1-ubyte\.gz: label 10 at index 3"):
        load_fashion_mnist(directory, download=False)


def test_images_must_be_28_by_28(tmp_path):
    arrays = small_dataset()
    arrays["train-images-idx3-ubyte"] = arrays["train-images-idx3-ubyte"][:, :27]
    directory = write_dataset(tmp_path / "d", arrays)
    with pytest.raises(DatasetError, match=r"train-images-idx3-ubyte\.gz: expected uint8 images"):
        load_fashion_mnist(directory, download=False)


def test_corrupt_file_in_search_path_is_reported_not_skipped(tmp_path):
    directory = write_dataset(tmp_path / "d", small_dataset())
    path = directory / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-20])
    with pytest.raises(DatasetError, match=str(path)):
        load_fashion_mnist(directory, download=False)


# --- downloading -------------------------------------------------------------------------

class Server:
    """A local HTTP server answering from `routes` (path -> bytes), 404 otherwise.
    `content_lengths` (path -> int, or None for no header) can make it lie."""

    def __init__(self):
        routes, requests, content_lengths = {}, [], {}

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                requests.append(self.path)
                body = routes.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                length = content_lengths.get(self.path, len(body))
                if length is not None:
                    self.send_header("Content-Length", str(length))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.routes, self.requests, self.content_lengths = routes, requests, content_lengths
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.01},
                                       daemon=True)
        self.thread.start()

    def serve_dataset(self, folder, files):
        """Serve gzip bytes `files` (file name -> bytes) under /folder/<name>.gz."""
        for file_name, data in files.items():
            self.routes[f"/{folder}/{file_name}.gz"] = data
        return f"{self.url}{folder}/"


@pytest.fixture
def server():
    running = Server()
    yield running
    running.httpd.shutdown()
    running.httpd.server_close()


def gzipped(arrays):
    """The .gz file content for each array, as a server would hold it."""
    return {file_name: gzip.compress(idx_bytes(array), mtime=0) for file_name, array in arrays.items()}


def sha256_of_content(files):
    return {file_name: datasets.Checksum("sha256", hashlib.sha256(gzip.decompress(data)).hexdigest(), True)
            for file_name, data in files.items()}


def md5_of_download(files):
    return {file_name: datasets.Checksum("md5", hashlib.md5(data).hexdigest(), False)
            for file_name, data in files.items()}


@pytest.mark.parametrize("name, checksums",
                         [("fashion-mnist", sha256_of_content), ("mnist", md5_of_download)])
def test_download_verifies_and_caches(tmp_path, monkeypatch, server, name, checksums):
    arrays = small_dataset()
    files = gzipped(arrays)
    monkeypatch.setitem(datasets.BASE_URLS, name, [server.serve_dataset("primary", files)])
    monkeypatch.setitem(datasets.CHECKSUMS, name, checksums(files))
    load = load_fashion_mnist if name == "fashion-mnist" else load_mnist
    assert_loaded(load(), arrays)
    cache = tmp_path / "cache" / "minicnn" / name
    assert sorted(os.listdir(cache)) == sorted(file_name + ".gz" for file_name in files)
    assert len(server.requests) == 4
    assert_loaded(load(), arrays)
    assert len(server.requests) == 4, "the second load must come from the cache"


def test_download_goes_into_data_dir_when_given(tmp_path, monkeypatch, server):
    files = gzipped(small_dataset())
    monkeypatch.setitem(datasets.BASE_URLS, "fashion-mnist", [server.serve_dataset("primary", files)])
    monkeypatch.setitem(datasets.CHECKSUMS, "fashion-mnist", sha256_of_content(files))
    load_fashion_mnist(tmp_path / "mine")
    assert len(os.listdir(tmp_path / "mine")) == 4
    assert not (tmp_path / "cache").exists()


def test_a_data_dir_given_gets_its_missing_files_even_when_the_cache_has_the_data(tmp_path, monkeypatch, server):
    served, cached = small_dataset(seed=1), small_dataset(seed=2)
    files = gzipped(served)
    monkeypatch.setitem(datasets.BASE_URLS, "fashion-mnist", [server.serve_dataset("primary", files)])
    monkeypatch.setitem(datasets.CHECKSUMS, "fashion-mnist", sha256_of_content(files))
    write_dataset(tmp_path / "cache" / "minicnn" / "fashion-mnist", cached)
    given = write_dataset(tmp_path / "given", {name: served[name] for name in datasets.FILE_NAMES[:3]})
    assert datasets.locate_fashion_mnist(given) == str(given)
    assert server.requests == ["/primary/t10k-labels-idx1-ubyte.gz"], "only the missing file is fetched"
    assert_loaded(load_fashion_mnist(given), served)


def test_mirror_is_used_when_primary_fails(monkeypatch, server):
    arrays = small_dataset()
    files = gzipped(arrays)
    mirror = server.serve_dataset("mirror", files)
    monkeypatch.setitem(datasets.BASE_URLS, "fashion-mnist", [server.url + "missing/", mirror])
    monkeypatch.setitem(datasets.CHECKSUMS, "fashion-mnist", sha256_of_content(files))
    assert_loaded(load_fashion_mnist(), arrays)
    assert sum(request.startswith("/missing/") for request in server.requests) == 4


def test_network_failure_everywhere_raises_file_not_found_with_urls(tmp_path, monkeypatch, server):
    monkeypatch.setitem(datasets.BASE_URLS, "fashion-mnist", [server.url + "a/", server.url + "b/"])
    with pytest.raises(FileNotFoundError) as caught:
        load_fashion_mnist()
    message = str(caught.value)
    assert f"{server.url}a/train-images-idx3-ubyte.gz" in message and "404" in message
    assert f"{server.url}b/train-images-idx3-ubyte.gz" in message
    assert str(tmp_path / "cache" / "minicnn" / "fashion-mnist") in message
    assert len(server.requests) == 2, "after one file fails everywhere, the others are not tried"


def test_corrupt_download_raises_and_keeps_the_good_cached_file(tmp_path, monkeypatch, server):
    arrays = small_dataset()
    good_files = gzipped(arrays)
    cache = write_dataset(tmp_path / "cache" / "minicnn" / "fashion-mnist",
                          {"train-images-idx3-ubyte": arrays["train-images-idx3-ubyte"]})
    cached_path = cache / "train-images-idx3-ubyte.gz"
    cached_bytes, cached_mtime = cached_path.read_bytes(), cached_path.stat().st_mtime_ns
    corrupt = {file_name: gzip.compress(b"\x00\x00\x08\x01\x00\x00\x00\x02ab") for file_name in good_files}
    monkeypatch.setitem(datasets.BASE_URLS, "fashion-mnist", [server.serve_dataset("bad", corrupt)])
    monkeypatch.setitem(datasets.CHECKSUMS, "fashion-mnist", sha256_of_content(good_files))
    with pytest.raises(DatasetError) as caught:
        load_fashion_mnist()
    message = str(caught.value)
    expected = datasets.CHECKSUMS["fashion-mnist"]["train-labels-idx1-ubyte"].hexdigest
    got = hashlib.sha256(gzip.decompress(corrupt["train-labels-idx1-ubyte"])).hexdigest()
    assert f"{server.url}bad/train-labels-idx1-ubyte.gz" in message
    assert expected in message and got in message
    assert cached_path.read_bytes() == cached_bytes and cached_path.stat().st_mtime_ns == cached_mtime
    assert os.listdir(cache) == ["train-images-idx3-ubyte.gz"], "no partial or corrupt file is left behind"


@pytest.mark.parametrize("damage", ["cut-off gzip", "not gzip", "truncated IDX"])
def test_damaged_download_without_checksum_fails_structure_check(tmp_path, monkeypatch, server, damage):
    files = gzipped(small_dataset())
    content = gzip.decompress(files["train-images-idx3-ubyte"])
    files["train-images-idx3-ubyte"] = {
        "cut-off gzip": files["train-images-idx3-ubyte"][:-30],
        "not gzip": b"\x1f\x8b<html>an error page</html>",
        "truncated IDX": gzip.compress(content[:-1]),
    }[damage]
    monkeypatch.setitem(datasets.BASE_URLS, "mnist", [server.serve_dataset("m", files)])
    monkeypatch.setitem(datasets.CHECKSUMS, "mnist", {})
    with pytest.raises(DatasetError, match=f"{server.url}m/train-images-idx3-ubyte.gz"):
        load_mnist()
    assert not (tmp_path / "cache" / "minicnn" / "mnist" / "train-images-idx3-ubyte.gz").exists()


def test_download_without_content_length_works(monkeypatch, server):
    arrays = small_dataset()
    files = gzipped(arrays)
    base_url = server.serve_dataset("p", files)
    for file_name in files:
        server.content_lengths[f"/p/{file_name}.gz"] = None
    monkeypatch.setitem(datasets.BASE_URLS, "fashion-mnist", [base_url])
    monkeypatch.setitem(datasets.CHECKSUMS, "fashion-mnist", sha256_of_content(files))
    assert_loaded(load_fashion_mnist(), arrays)


def test_connection_closed_early_counts_as_a_network_failure(tmp_path, monkeypatch, server):
    files = gzipped(small_dataset())
    base_url = server.serve_dataset("p", files)
    server.content_lengths["/p/train-images-idx3-ubyte.gz"] = len(files["train-images-idx3-ubyte"]) + 100
    monkeypatch.setitem(datasets.BASE_URLS, "fashion-mnist", [base_url])
    with pytest.raises(FileNotFoundError, match="IncompleteRead"):
        load_fashion_mnist()
    assert not (tmp_path / "cache" / "minicnn" / "fashion-mnist" / "train-images-idx3-ubyte.gz").exists()


def test_download_works_without_tqdm(monkeypatch, server, capsys):
    arrays = small_dataset()
    files = gzipped(arrays)
    monkeypatch.setattr(datasets, "tqdm", None)
    monkeypatch.setitem(datasets.BASE_URLS, "fashion-mnist", [server.serve_dataset("p", files)])
    monkeypatch.setitem(datasets.CHECKSUMS, "fashion-mnist", sha256_of_content(files))
    assert_loaded(load_fashion_mnist(), arrays)
    assert capsys.readouterr().err == ""


# --- the real data -----------------------------------------------------------------------

def test_module_checksums_are_the_ones_in_papers_md():
    assert {name: checksum.hexdigest for name, checksum in datasets.CHECKSUMS["fashion-mnist"].items()} \
        == PAPERS_SHA256


@needs_system_data
def test_installed_files_match_papers_md_checksums():
    for file_name, expected in PAPERS_SHA256.items():
        with gzip.open(os.path.join(SYSTEM_FASHION_DIR, file_name + ".gz")) as file:
            assert hashlib.sha256(file.read()).hexdigest() == expected, file_name


@needs_system_data
def test_installed_fashion_mnist_loads(monkeypatch):
    monkeypatch.setitem(datasets.SYSTEM_DIRS, "fashion-mnist", [SYSTEM_FASHION_DIR])
    (x_train, y_train), (x_test, y_test) = load_fashion_mnist(download=False)
    assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28)
    assert x_train.dtype == np.uint8 and y_train.dtype == np.int64
    assert np.bincount(y_train).tolist() == [6000] * 10
    assert np.bincount(y_test).tolist() == [1000] * 10
    assert abs(x_train.mean() / 255 - 0.2860) < 5e-4


@needs_system_data
def test_download_of_the_real_files_passes_the_real_checksums(tmp_path, monkeypatch, server):
    files = {name: pathlib.Path(SYSTEM_FASHION_DIR, name + ".gz").read_bytes() for name in PAPERS_SHA256}
    monkeypatch.setitem(datasets.BASE_URLS, "fashion-mnist", [server.serve_dataset("real", files)])
    (x_train, _), (x_test, _) = load_fashion_mnist()
    assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28)
    assert len(os.listdir(tmp_path / "cache" / "minicnn" / "fashion-mnist")) == 4
