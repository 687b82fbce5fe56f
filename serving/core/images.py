"""`serving_image` without TensorFlow: encoded images to the pixels an image model takes, in Python.

ONNX has no image decoder in its standard opsets, so the ONNX servable decodes a `serving_image`
request here, as zoo.json's "image" entry declares and as the SavedModel's graph does
(export/serving.py's `image_function`): decoded as RGB (a JPEG with libjpeg's accurate DCT, which
the graph asks for too), grayscale by the ITU-R 601 weights TensorFlow's rgb_to_grayscale uses,
resized in float32 with Pillow's BILINEAR, the triangle filter that
tf.image.resize(method="bilinear", antialias=True) also applies, and left in the raw 0-255 range.
bench/image_bytes.py measures how far the two backends' pixels and answers are apart.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, UnidentifiedImageError

from zoo.export.contract import IMAGE_INPUT, ImageInput
from zoo.serving.core.errors import InvalidArgument

GRAY_WEIGHTS = np.array([0.2989, 0.5870, 0.1140], np.float32)  # tf.image.rgb_to_grayscale's


def decode_images(encoded: np.ndarray, image: ImageInput) -> np.ndarray:
    """A batch of encoded images (an object array of bytes) as float32 pixels, shaped
    (batch, height, width, channels); a file that is no image is INVALID_ARGUMENT naming why."""
    pixels = np.empty((len(encoded), image.height, image.width, image.channels), np.float32)
    for index, data in enumerate(encoded.reshape(-1)):
        pixels[index] = _decode(index, data, image)
    return pixels


def _decode(index: int, data: bytes, image: ImageInput) -> np.ndarray:
    try:
        with Image.open(io.BytesIO(data)) as opened:
            rgb = np.asarray(opened.convert("RGB"), np.float32)
    except UnidentifiedImageError:
        raise InvalidArgument(
            f"{IMAGE_INPUT}[{index}] is no image: its {len(data)} bytes are not a PNG or JPEG "
            "file Pillow can read"
        ) from None
    except Image.DecompressionBombError as exc:  # more pixels than Pillow decodes
        raise InvalidArgument(f"{IMAGE_INPUT}[{index}] is too large: {exc}") from None
    except (OSError, SyntaxError, ValueError) as exc:  # a truncated or damaged file
        raise InvalidArgument(f"{IMAGE_INPUT}[{index}] is a damaged image: {exc}") from None
    planes = [rgb @ GRAY_WEIGHTS] if image.channels == 1 else [rgb[..., c] for c in range(3)]
    size = (image.width, image.height)
    resized = [  # a float32 plane is Pillow's mode "F": resized without rounding to bytes
        np.asarray(Image.fromarray(np.ascontiguousarray(plane)).resize(size, Image.BILINEAR))
        for plane in planes
    ]
    return np.stack(resized, axis=-1)
