"""Images the way the zoo's grayscale data sets draw them: light strokes on a dark ground.

MNIST and Fashion-MNIST are white on black, while a digit drawn in Paint, written on paper or
scanned is black on white. A network trained on one answers the other confidently wrong, so an
image whose ground is light is inverted before it is sent. The ground is the image's outer ring:
MNIST's is black in every one of its 70,000 images (median 0), whatever the strokes touch.

A model's polarity is how the images it learned from were drawn: LIGHT_ON_DARK for a model of
those data sets, AS_IS (send an image as it is) for any other, a folder of one's own included.
`zoo export` records it with the model, for `zoo predict` to read from the server.
"""

from __future__ import annotations

import numpy as np

LIGHT_ON_DARK_SETS = ("mnist", "fashion-mnist")  # the data sets whose images have a black ground
LIGHT_ON_DARK = "light-on-dark"  # a model of those: a dark-on-light image is inverted for it
AS_IS = "as-is"  # any other image model: images are sent as they are
RING = 2  # pixels of the border that make the ground, at the model's input size
MID_GREY = 127.5


def dark_on_light(pixels: np.ndarray) -> bool:
    """Whether a 0-255 grayscale image (H, W[, 1]) has a light ground: its border's median is
    above mid-grey. The median, not the mean, so strokes that run off an edge do not count."""
    image = np.asarray(pixels).reshape(pixels.shape[:2])
    ring = np.ones(image.shape, dtype=bool)
    ring[RING:-RING, RING:-RING] = False
    return bool(np.median(image[ring]) > MID_GREY)


def polarity_of(dataset: object) -> str:
    """The polarity of a model trained on `dataset` (a data set's name, or one's own data)."""
    return LIGHT_ON_DARK if dataset in LIGHT_ON_DARK_SETS else AS_IS


def as_in_training(pixels: np.ndarray, polarity: str | None) -> tuple[np.ndarray, bool]:
    """0-255 pixels as a model of `polarity` learned its images, and whether they had to be
    inverted for it.

    Only light-on-dark grayscale models are matched; anything else (colour photos, a model whose
    polarity is unknown) is left as it is.
    """
    if polarity == LIGHT_ON_DARK and pixels.shape[-1:] == (1,) and dark_on_light(pixels):
        return 255 - pixels, True
    return pixels, False
