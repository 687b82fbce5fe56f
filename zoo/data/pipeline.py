"""tf.data pipelines: from in-memory arrays to shuffled, augmented, normalized batches.

The raw arrays (uint8 pixels, float features) are cached as they are, so an epoch costs one pass of
cheap per-batch arithmetic; randomness comes from seeds only, so a seed fixes the whole run.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from zoo.registry import ModelSpec

AUTOTUNE = tf.data.AUTOTUNE
PAD = 4  # pixels of zero padding before the random crop, as in the classic CIFAR-10 recipe


def split_validation(
    x: np.ndarray, y: np.ndarray, fraction: float, seed: int
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray] | None]:
    """Hold out a seeded random `fraction` of the training set for the learning curves."""
    n_val = round(len(x) * fraction)
    if n_val == 0:
        return (x, y), None
    order = np.random.default_rng(seed).permutation(len(x))
    val, train = order[:n_val], order[n_val:]
    return (x[train], y[train]), (x[val], y[val])


def _augment(image: tf.Tensor, label: tf.Tensor, seed: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Random horizontal flip and pad-and-crop, from stateless ops so a seed replays them exactly."""
    flip_seed, crop_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    image = tf.image.stateless_random_flip_left_right(image, flip_seed)
    padded = tf.pad(image, [[PAD, PAD], [PAD, PAD], [0, 0]])
    image = tf.image.stateless_random_crop(padded, tf.shape(image), crop_seed)
    return image, label


def make_pipeline(
    x: np.ndarray,
    y: np.ndarray,
    spec: ModelSpec,
    batch_size: int,
    *,
    training: bool,
    seed: int = 0,
) -> tf.data.Dataset:
    """Batches of (network input, target) for `spec`'s model.

    Training pipelines shuffle (reshuffled every epoch from `seed`), augment when the recipe asks
    for it, and repeat forever when the recipe fixes `steps_per_epoch`.
    """
    recipe = spec.recipe
    num_classes = spec.num_outputs
    one_hot = spec.task == "multiclass" and recipe.one_hot_labels

    def preprocess(images, labels):
        images = tf.cast(images, tf.float32) * spec.pixel_scale
        if one_hot:
            labels = tf.one_hot(tf.cast(labels, tf.int32), num_classes)
        return images, labels

    ds = tf.data.Dataset.from_tensor_slices((x, y)).cache()
    if training:
        ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
        if recipe.augment:
            seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
            ds = tf.data.Dataset.zip(ds, seeds).map(
                lambda xy, s: _augment(xy[0], xy[1], s), num_parallel_calls=AUTOTUNE
            )
        if recipe.steps_per_epoch:
            ds = ds.repeat()
    ds = ds.batch(batch_size).map(preprocess, num_parallel_calls=AUTOTUNE)
    return ds.prefetch(AUTOTUNE)
