"""Reading and writing IDX files, the format MNIST and Fashion-MNIST ship in.

An IDX file is a 4-byte magic number, one 4-byte big-endian size per
dimension, then the values in C order, big-endian:

    byte 0, 1   always zero
    byte 2      type code (0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
                0x0D float32, 0x0E float64)
    byte 3      number of dimensions

Fashion-MNIST's training images, for example, start 00 00 08 03, then the
sizes 60000, 28, 28, then 47,040,000 pixel bytes. Files are usually gzipped;
gzip is recognised by its own magic bytes (1f 8b), not by the file name.
"""
import gzip
import math
import zlib

import numpy as np

from minicnn.data.files import atomic_write

GZIP_MAGIC = b"\x1f\x8b"

# Type code -> (big-endian dtype as stored, native dtype returned).
IDX_TYPES = {
    0x08: (np.dtype(">u1"), np.dtype(np.uint8)),
    0x09: (np.dtype(">i1"), np.dtype(np.int8)),
    0x0B: (np.dtype(">i2"), np.dtype(np.int16)),
    0x0C: (np.dtype(">i4"), np.dtype(np.int32)),
    0x0D: (np.dtype(">f4"), np.dtype(np.float32)),
    0x0E: (np.dtype(">f8"), np.dtype(np.float64)),
}


class DatasetError(ValueError):
    """A data file exists but is unusable: corrupt, truncated, wrongly headed,
    inconsistent with its partner file, or failing its checksum."""


def decompress_if_gzip(data, source):
    """The bytes of a file, gunzipped when they start with the gzip magic.

    Inputs:
    - data: bytes, the file's content as stored.
    - source: str, the file path or URL, used in error messages.

    Returns bytes. Raises DatasetError when the data claims to be gzip but is
    not, or is cut off.
    """
    if not data.startswith(GZIP_MAGIC):
        return data
    try:
        return gzip.decompress(data)
    except EOFError:
        raise DatasetError(
            f"{source}: the gzip stream is cut off (an interrupted download?); "
            "delete the file and fetch it again"
        ) from None
    except (OSError, zlib.error) as error:
        raise DatasetError(
            f"{source}: starts with the gzip magic bytes but is not valid gzip "
            f"({error}); delete the file and fetch it again"
        ) from None


def parse_idx(data, source):
    """An array from the (decompressed) bytes of an IDX file.

    Inputs:
    - data: bytes, a complete IDX file, not gzipped.
    - source: str, the file path or URL, used in error messages.

    Returns a numpy array of shape given by the header, in the native byte
    order, e.g. uint8 of shape (60000, 28, 28). Raises DatasetError naming
    `source` if the header or the data length is wrong.
    """
    if len(data) == 0:
        raise DatasetError(f"{source}: the file is empty")
    if len(data) < 4:
        raise DatasetError(f"{source}: only {len(data)} bytes, too short for an IDX header")
    zero_bytes, type_code, ndim = data[:2], data[2], data[3]
    if zero_bytes != b"\x00\x00" or type_code not in IDX_TYPES:
        raise DatasetError(
            f"{source}: not an IDX file: the magic number is {data[:4].hex(' ')}, "
            "expected 00 00 <type code 08/09/0b/0c/0d/0e> <number of dimensions>; "
            "a damaged or wrong file: delete it and fetch it again"
        )
    if ndim == 0:
        raise DatasetError(f"{source}: the IDX header declares 0 dimensions")
    header_length = 4 + 4 * ndim
    if len(data) < header_length:
        raise DatasetError(
            f"{source}: truncated header: {ndim} dimensions need {header_length} bytes, "
            f"the file has {len(data)}"
        )
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    stored_dtype, native_dtype = IDX_TYPES[type_code]
    expected_length = math.prod(shape) * stored_dtype.itemsize
    actual_length = len(data) - header_length
    if actual_length != expected_length:
        fault = "truncated" if actual_length < expected_length else "trailing bytes"
        raise DatasetError(
            f"{source}: {fault}: the header declares shape {shape} of {native_dtype}, "
            f"{expected_length} bytes of data, but the file holds {actual_length}; "
            "delete the file and fetch it again"
        )
    values = np.frombuffer(data, dtype=stored_dtype, offset=header_length)
    # astype copies, so the result is writable and in native byte order.
    return values.astype(native_dtype).reshape(shape)


def read_idx(path):
    """Read an IDX file, gzipped or plain.

    Inputs:
    - path: str or os.PathLike.

    Returns a numpy array (e.g. uint8 images of shape (N, 28, 28), or uint8
    labels of shape (N,)). Raises FileNotFoundError if `path` does not exist,
    DatasetError (a ValueError) naming the path and the fault if it is empty,
    wrongly headed, truncated, has trailing bytes, or is corrupt gzip.
    """
    with open(path, "rb") as file:
        stored = file.read()
    return parse_idx(decompress_if_gzip(stored, path), path)


def idx_bytes(array):
    """The IDX encoding of `array` (header + big-endian values), not gzipped.

    Inputs:
    - array: numpy array of a dtype IDX supports (uint8, int8, int16, int32,
      float32, float64), at least 1-D.

    Returns bytes.
    """
    array = np.asarray(array)
    for type_code, (stored_dtype, native_dtype) in IDX_TYPES.items():
        if array.dtype == native_dtype:
            break
    else:
        raise ValueError(f"IDX cannot store dtype {array.dtype}")
    if array.ndim == 0:
        raise ValueError("IDX needs an array with at least one dimension")
    header = bytes([0, 0, type_code, array.ndim])
    sizes = b"".join(size.to_bytes(4, "big") for size in array.shape)
    return header + sizes + array.astype(stored_dtype).tobytes()


def write_idx(path, array):
    """Write `array` as an IDX file, gzipped when `path` ends in '.gz'.

    Inputs:
    - path: str or os.PathLike.
    - array: numpy array, as for idx_bytes.
    """
    data = idx_bytes(array)
    if str(path).endswith(".gz"):
        data = gzip.compress(data, mtime=0)  # mtime=0 makes the output reproducible
    with atomic_write(path) as file:
        file.write(data)
