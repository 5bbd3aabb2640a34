"""The PNG encoder: files that OpenCV and Pillow read back exactly, with and without ISA-L."""

import io

import cv2
import numpy as np
import pytest
from PIL import Image

from howard.io import png

RNG = np.random.default_rng(0)
IMAGES = {
    "grey8": RNG.integers(0, 256, (37, 53), dtype=np.uint8),
    "grey16": RNG.integers(0, 65536, (37, 53), dtype=np.uint16),
    "rgb8": RNG.integers(0, 256, (21, 34, 3), dtype=np.uint8),
    "rgba8": RNG.integers(0, 256, (21, 34, 4), dtype=np.uint8),
    "rgba16": RNG.integers(0, 65536, (5, 7, 4), dtype=np.uint16),
    "one_pixel": np.full((1, 1, 3), 200, np.uint8),
}


def decode_cv2(data: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB if image.shape[2] == 3 else
                             cv2.COLOR_BGRA2RGBA)
    return image


@pytest.mark.parametrize("name", sorted(IMAGES))
@pytest.mark.parametrize("level", [0, 1, 6])
def test_round_trip(name, level):
    image = IMAGES[name]
    data = png.encode(image, level)
    back = decode_cv2(data)
    assert back.dtype == image.dtype and back.shape == image.shape
    np.testing.assert_array_equal(back, image)
    if image.dtype == np.uint8:  # Pillow reads 16-bit colour as 8-bit
        np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(data))), image)


def test_strided_input():
    image = IMAGES["rgba8"][::2, ::3, :3]  # a view, not contiguous
    np.testing.assert_array_equal(decode_cv2(png.encode(image)), image)


def test_without_isal_same_pixels(monkeypatch):
    image = IMAGES["rgba8"]
    fast = png.encode(image, 1)
    monkeypatch.setattr(png, "isal_zlib", None)
    plain = png.encode(image, 1)
    np.testing.assert_array_equal(decode_cv2(plain), decode_cv2(fast))


def test_up_filter_rows():
    rows = png.up_filtered(np.array([[1, 2], [4, 1]], np.uint8))
    np.testing.assert_array_equal(rows, [[2, 1, 2], [2, 3, 255]])  # 1 - 2 wraps to 255


def test_bad_inputs():
    with pytest.raises(TypeError, match="uint8 or uint16"):
        png.encode(np.zeros((4, 4), np.float32))
    with pytest.raises(ValueError, match="HxW"):
        png.encode(np.zeros((4, 4, 5), np.uint8))
    with pytest.raises(ValueError, match="0-9"):
        png.encode(np.zeros((4, 4), np.uint8), 10)
