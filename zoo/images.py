"""Images the way the zoo's grayscale data sets draw them: light strokes on a dark ground.

MNIST and Fashion-MNIST are white on black, while a digit drawn in Paint, written on paper or
scanned is black on white. A network trained on one answers the other confidently wrong, so an
image whose ground is light is inverted before it is sent. The ground is the image's outer ring:
MNIST's is black in every one of its 70,000 images (median 0), whatever the strokes touch.
"""

from __future__ import annotations

import numpy as np

LIGHT_ON_DARK = ("mnist", "fashion-mnist")  # the data sets whose images have a black ground
RING = 2  # pixels of the border that make the ground, at the model's input size
MID_GREY = 127.5


def dark_on_light(pixels: np.ndarray) -> bool:
    """Whether a 0-255 grayscale image (H, W[, 1]) has a light ground: its border's median is
    above mid-grey. The median, not the mean, so strokes that run off an edge do not count."""
    image = np.asarray(pixels).reshape(pixels.shape[:2])
    ring = np.ones(image.shape, dtype=bool)
    ring[RING:-RING, RING:-RING] = False
    return bool(np.median(image[ring]) > MID_GREY)


def as_in_training(pixels: np.ndarray, dataset: str | None) -> tuple[np.ndarray, bool]:
    """0-255 pixels as `dataset` draws its images, and whether they had to be inverted for it.

    Only the light-on-dark grayscale sets are matched; anything else (colour photos, a model that
    is not the zoo's, whose data set is unknown) is left as it is.
    """
    if dataset in LIGHT_ON_DARK and pixels.shape[-1:] == (1,) and dark_on_light(pixels):
        return 255 - pixels, True
    return pixels, False
