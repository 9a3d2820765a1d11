"""The IDX reader: round trips, and every way a file can be broken."""
import gzip

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from minicnn.data import DatasetError, read_idx, write_idx
from minicnn.data.idx import idx_bytes

IDX_DTYPES = [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64]


def write_bytes(path, data):
    path.write_bytes(data)
    return path


def images_bytes(num_images=3, height=4, width=5):
    """A valid uncompressed IDX file of uint8 images (N, H, W)."""
    count = num_images * height * width
    return idx_bytes(np.arange(count, dtype=np.uint8).reshape(num_images, height, width))


def test_header_layout_matches_the_format():
    data = idx_bytes(np.array([[1, 2, 3], [4, 5, 6]], dtype=np.uint8))
    assert data == bytes([0, 0, 0x08, 2, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6])


def test_reads_multibyte_types_big_endian(tmp_path):
    header = bytes([0, 0, 0x0C, 1, 0, 0, 0, 2])  # int32, one dimension of size 2
    path = write_bytes(tmp_path / "ints", header + b"\x00\x00\x01\x00\xff\xff\xff\xfe")
    values = read_idx(path)
    assert values.dtype == np.int32 and values.dtype.isnative
    assert values.tolist() == [256, -2]


@settings(max_examples=40, deadline=None)
@given(array=st.sampled_from(IDX_DTYPES).flatmap(
    lambda dtype: hnp.arrays(dtype, hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=5))),
    compress=st.booleans())
def test_write_then_read_round_trips(tmp_path_factory, array, compress):
    path = tmp_path_factory.mktemp("idx") / ("file.gz" if compress else "file")
    write_idx(path, array)
    result = read_idx(path)
    assert result.dtype == array.dtype and result.shape == array.shape
    np.testing.assert_array_equal(result, array)
    assert result.flags.writeable


def test_gzip_is_detected_by_content_not_by_name(tmp_path):
    expected = read_idx(write_bytes(tmp_path / "plain", images_bytes()))
    gzipped_without_suffix = write_bytes(tmp_path / "images", gzip.compress(images_bytes()))
    plain_with_gz_suffix = write_bytes(tmp_path / "images.gz", images_bytes())
    np.testing.assert_array_equal(read_idx(gzipped_without_suffix), expected)
    np.testing.assert_array_equal(read_idx(plain_with_gz_suffix), expected)


def test_missing_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_idx(tmp_path / "nope.gz")


def test_dataset_error_is_a_value_error():
    assert issubclass(DatasetError, ValueError)


VALID = images_bytes(num_images=3, height=4, width=5)  # 16 header bytes + 60 data bytes

BROKEN_FILES = {
    "empty": (b"", "empty"),
    "shorter than a header": (b"\x00\x00", "too short"),
    "wrong magic": (b"\x12\x34" + VALID[2:], "not an IDX file"),
    "text file": (b"hello, this is not IDX at all\n", "not an IDX file"),
    "unknown type code": (VALID[:2] + b"\x07" + VALID[3:], "not an IDX file"),
    "zero dimensions": (b"\x00\x00\x08\x00", "0 dimensions"),
    "truncated header": (VALID[:10], "truncated header"),
    "truncated data": (VALID[:-1], "truncated"),
    "trailing bytes": (VALID + b"\x00", "trailing bytes"),
    "gzip magic but not gzip": (b"\x1f\x8b" + b"definitely not deflate data", "not valid gzip"),
    "cut-off gzip": (gzip.compress(VALID)[:-12], "cut off"),
    "gzip with trailing garbage": (gzip.compress(VALID) + b"garbage", "not valid gzip"),
    "gzip with a bad CRC": (gzip.compress(VALID)[:-8] + b"\x00\x00\x00\x00" + gzip.compress(VALID)[-4:],
                            "not valid gzip"),
    "gzip of a truncated IDX": (gzip.compress(VALID[:-5]), "truncated"),
}


@pytest.mark.parametrize("case", BROKEN_FILES)
def test_broken_files_raise_dataset_error_naming_file_and_fault(tmp_path, case):
    content, fault = BROKEN_FILES[case]
    path = write_bytes(tmp_path / "train-images-idx3-ubyte.gz", content)
    with pytest.raises(DatasetError) as caught:
        read_idx(path)
    message = str(caught.value)
    assert str(path) in message
    assert fault in message


def test_size_mismatch_message_gives_both_sizes(tmp_path):
    path = write_bytes(tmp_path / "images", VALID[:-7])
    with pytest.raises(DatasetError, match=r"shape \(3, 4, 5\).*60 bytes.*holds 53"):
        read_idx(path)


def test_header_claiming_huge_sizes_fails_cleanly(tmp_path):
    # 2^32-1 cubed bytes: a corrupt header must not try to allocate that.
    path = write_bytes(tmp_path / "images", b"\x00\x00\x08\x03" + b"\xff\xff\xff\xff" * 3 + b"\x00" * 10)
    with pytest.raises(DatasetError, match="truncated"):
        read_idx(path)


def test_a_gz_file_of_random_bytes_says_to_fetch_it_again(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(bytes.fromhex("dc80802e") + bytes(range(200)))
    with pytest.raises(DatasetError, match="magic number is dc 80 80 2e.*a damaged or wrong file: delete it and "
                                           "fetch it again"):
        read_idx(path)
    plain = tmp_path / "train-images-idx3-ubyte"
    plain.write_bytes(bytes.fromhex("dc80802e") + bytes(range(200)))
    with pytest.raises(DatasetError, match="magic number is dc 80 80 2e.*delete it and fetch it again"):
        read_idx(plain)
