"""tf.data pipelines: from in-memory arrays to shuffled, augmented, normalized batches.

Randomness comes from stateless ops keyed by (seed, epoch) only: a seed fixes the whole run, and
epoch e's batches are the same whether the run got there in one go or was resumed at epoch e.
"""

from __future__ import annotations

import math

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


def _shuffled(images: tf.Tensor, labels: tf.Tensor, seed: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """The whole set in the order that `seed` draws."""
    order = tf.random.experimental.stateless_shuffle(tf.range(tf.shape(images)[0]), seed)
    return tf.gather(images, order), tf.gather(labels, order)


def make_pipeline(
    x: np.ndarray,
    y: np.ndarray,
    spec: ModelSpec,
    batch_size: int,
    *,
    training: bool,
    seed: int = 0,
    epochs: range = range(1),
) -> tf.data.Dataset:
    """Batches of (network input, target) for `spec`'s model.

    A training pipeline is the epochs in `epochs`, one after the other (one epoch by default;
    iterating again replays them). Epoch e is shuffled, and augmented when the recipe asks for it,
    from (seed, e) alone, so training resumed at epoch e sees what an unbroken run would have seen.
    With the recipe's `steps_per_epoch`, an epoch is that many batches of passes over a tiny table,
    each pass shuffled anew.
    """
    recipe = spec.recipe
    num_classes = spec.num_outputs
    one_hot = spec.task == "multiclass" and recipe.one_hot_labels

    def preprocess(images, labels):
        images = tf.cast(images, tf.float32) * spec.pixel_scale
        if one_hot:
            labels = tf.one_hot(tf.cast(labels, tf.int32), num_classes)
        return images, labels

    whole = tf.data.Dataset.from_tensors((x, y))  # one element: the whole set, shuffled per pass

    def epoch(e: tf.Tensor) -> tf.data.Dataset:
        key = tf.stack([tf.constant(seed, tf.int64), e])  # this epoch's, independent of the others
        order_key, augment_key = tf.unstack(tf.random.experimental.stateless_split(key, 2))
        passes = whole.repeat() if recipe.steps_per_epoch else whole
        fold_in = tf.random.experimental.stateless_fold_in
        ds = passes.enumerate().map(lambda p, xy: _shuffled(*xy, fold_in(order_key, p))).unbatch()
        if recipe.augment:
            ds = ds.enumerate().map(
                lambda i, xy: _augment(*xy, fold_in(augment_key, i)), num_parallel_calls=AUTOTUNE
            )
        ds = ds.batch(batch_size)
        return ds.take(recipe.steps_per_epoch) if recipe.steps_per_epoch else ds

    if training:
        ds = tf.data.Dataset.range(epochs.start, epochs.stop, epochs.step).flat_map(epoch)
        # flat_map hides the length; Keras needs it to end an epoch without running out of data.
        batches = recipe.steps_per_epoch or math.ceil(len(x) / batch_size)
        ds = ds.apply(tf.data.experimental.assert_cardinality(len(epochs) * batches))
    else:
        ds = tf.data.Dataset.from_tensor_slices((x, y)).cache().batch(batch_size)
    # Under a multi-worker strategy each worker takes its share of every (global) batch; the
    # default, AUTO, finds no files to shard and warns before falling back to the same.
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.map(preprocess, num_parallel_calls=AUTOTUNE).prefetch(AUTOTUNE).with_options(options)
