"""Size limits checked before anything is decoded (memory bombs are refused, exit 2).

* :data:`MAX_IMAGE_PIXELS`: one image's width x height, read from its header before decoding.
* The decoded size of a whole data set, :func:`max_data_bytes`: 4 GiB unless the environment
  variable ``CONVSCOPE_MAX_DATA_BYTES`` says otherwise. IDX headers and image headers are
  checked against it before their data is inflated.
"""

from __future__ import annotations

import os

from convscope.errors import DataError

MAX_IMAGE_PIXELS = 16_777_216  # 4096 x 4096: one image, read from its header
DEFAULT_MAX_DATA_BYTES = 4 << 30  # 4 GiB of decoded uint8 images
ENV = "CONVSCOPE_MAX_DATA_BYTES"


def max_data_bytes() -> int:
    v = os.environ.get(ENV)
    if not v:
        return DEFAULT_MAX_DATA_BYTES
    try:
        return int(v)
    except ValueError:
        raise DataError(f"${ENV}: expected a number of bytes, got {v!r}") from None


def check_data_bytes(where: str, nbytes: int, what: str = "decoded data") -> None:
    limit = max_data_bytes()
    if nbytes > limit:
        raise DataError(
            f"{where}: {what} would take {nbytes:,} bytes, over the limit of {limit:,} "
            f"(set ${ENV} to raise it)"
        )


def check_image_pixels(where: str, width: int, height: int) -> None:
    if width * height > MAX_IMAGE_PIXELS:
        raise DataError(
            f"{where}: image is {width}x{height}, over the limit of {MAX_IMAGE_PIXELS:,} pixels "
            "per image; expected small images (resize them first)"
        )
