"""Generative adversarial networks on MNIST: the bootcamp's Maxout GAN and the TF lecture's GAN.

A GAN is two networks trained against each other. The discriminator D learns to tell real digits
(D(x) -> 1) from generated ones (D(G(z)) -> 0); the generator G learns to fool it. As the slide
explains, G does not minimize log(1 - D(G(z))), whose gradient vanishes while D easily rejects early
fakes, but maximizes log D(G(z)) (the non-saturating loss) instead.

Left alone, the discriminator can win outright: it grows so steep around the real digits that
its gradient tells the generator nothing useful, and the generator collapses onto a few digits.
Mescheder et al.'s R1 penalty (2018), (gamma / 2) * E ||grad_x logit D(x)||^2 on real images,
keeps D flat where the data is; `r1_weight` is gamma. It changes the training, not the networks.

`GAN` is one subclassed `keras.Model` holding both networks, with its own `train_step`, so `fit`,
callbacks, the progress bar, `.keras` checkpoints (both optimizers included) and `--resume` work as
for every other model. Calling it maps latent points z to images: the model *is* the generator for
inference and export; the discriminator only matters in training.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

import keras
import tensorflow as tf

from zoo.registry import InputSpec, Recipe, register

LATENT_DIM = 100
IMAGE_SHAPE = (28, 28, 1)
Latent = Literal["normal", "uniform"]


@keras.saving.register_keras_serializable(package="zoo")
class Maxout(keras.layers.Layer):
    """Goodfellow et al.'s maxout unit: output i is the largest of `pieces` affine functions of x.

    One Dense layer computes all units * pieces affine maps; column i * pieces + j is piece j of
    unit i, and the max is taken over the pieces. Inputs are (batch, features).
    """

    def __init__(self, units: int, pieces: int, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.pieces = pieces
        self.linear = keras.layers.Dense(units * pieces, name="linear")

    def build(self, input_shape):
        self.linear.build(input_shape)

    def call(self, x):
        pieces = keras.ops.reshape(self.linear(x), (-1, self.units, self.pieces))
        return keras.ops.max(pieces, axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "pieces": self.pieces}


@keras.saving.register_keras_serializable(package="zoo")
class GAN(keras.Model):
    """A generator and a discriminator, trained in turn by `fit` on batches of real images.

    `compile` takes one optimizer (the recipe's) and gives each network its own copy: `optimizer`
    steps the discriminator, `generator_optimizer` the generator, with the same settings. The
    discriminator's last layer is its sigmoid, so that the layers before it give the logit that
    the R1 penalty differentiates.
    """

    def __init__(
        self,
        generator: keras.Model,
        discriminator: keras.Model,
        latent: Latent = "normal",
        r1_weight: float = 0.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if r1_weight and not isinstance(discriminator.layers[-1], keras.layers.Activation):
            raise ValueError("the R1 penalty needs a discriminator that ends in its sigmoid layer")
        self.generator = generator
        self.discriminator = discriminator
        self.latent = latent
        self.r1_weight = r1_weight
        # Training noise comes from a tracked seed, so a resumed run continues the same stream.
        self.noise = keras.random.SeedGenerator(name="noise")
        self.trackers = {
            name: keras.metrics.Mean(name=name) for name in ("d_loss", "g_loss", "D(x)", "D(G(z))")
        }

    @property
    def latent_dim(self) -> int:
        return self.generator.input_shape[-1]

    def latent_points(self, n, seed) -> tf.Tensor:
        """n points of the latent distribution; an int seed gives the same points every time."""
        shape = (n, self.latent_dim)
        if self.latent == "uniform":
            return keras.random.uniform(shape, minval=-1.0, maxval=1.0, seed=seed)
        return keras.random.normal(shape, seed=seed)

    def call(self, z, training=False):
        return self.generator(z, training=training)

    def compile(self, optimizer="adam", loss="binary_crossentropy", **kwargs):
        super().compile(optimizer=optimizer, loss=loss, **kwargs)
        self.generator_optimizer = self.optimizer.from_config(self.optimizer.get_config())
        self.adversarial_loss = keras.losses.get(loss)

    def compile_from_config(self, config):
        """Recompile a loaded model and create both optimizers' variables, so their state loads."""
        self.compile(**keras.saving.deserialize_keras_object(config))
        self.optimizer.build(self.discriminator.trainable_variables)
        self.generator_optimizer.build(self.generator.trainable_variables)

    @property
    def metrics(self):
        # Listed here so that Keras resets them at every epoch.
        return list(self.trackers.values())

    def discriminator_logit(self, images, training=False):
        """D's logit of "real": every discriminator layer but the closing sigmoid."""
        x = images
        for layer in self.discriminator.layers[:-1]:
            x = layer(x, training=training)
        return x

    def r1_penalty(self, real, training=False):
        """(D(real), E ||grad_x logit D(x)||^2 over the batch): the probability and R1's penalty."""
        with tf.GradientTape() as tape:
            tape.watch(real)
            logit = self.discriminator_logit(real, training=training)
            total = keras.ops.sum(logit)  # each image's logit depends on that image only
        slopes = tape.gradient(total, real)
        penalty = keras.ops.mean(keras.ops.sum(keras.ops.square(slopes), axis=(1, 2, 3)))
        return self.discriminator.layers[-1](logit), penalty

    def train_step(self, data):
        real = data[0]
        batch = keras.ops.shape(real)[0]

        # Discriminator: real images are class 1, the generator's current fakes class 0.
        z = self.latent_points(batch, self.noise)
        with tf.GradientTape() as tape:
            if self.r1_weight:
                d_real, penalty = self.r1_penalty(real, training=True)
            else:
                d_real, penalty = self.discriminator(real, training=True), 0.0
            d_fake = self.discriminator(self.generator(z, training=True), training=True)
            d_loss = (
                self.adversarial_loss(keras.ops.ones_like(d_real), d_real)
                + self.adversarial_loss(keras.ops.zeros_like(d_fake), d_fake)
                + self.r1_weight / 2 * penalty
            )
        weights = self.discriminator.trainable_variables
        self.optimizer.apply_gradients(zip(tape.gradient(d_loss, weights), weights, strict=True))

        # Generator, non-saturating: maximize log D(G(z)), i.e. label its fakes as real.
        z = self.latent_points(batch, self.noise)
        with tf.GradientTape() as tape:
            d_generated = self.discriminator(self.generator(z, training=True), training=True)
            g_loss = self.adversarial_loss(keras.ops.ones_like(d_generated), d_generated)
        weights = self.generator.trainable_variables
        self.generator_optimizer.apply_gradients(
            zip(tape.gradient(g_loss, weights), weights, strict=True)
        )

        for name, value in (
            ("d_loss", d_loss),
            ("g_loss", g_loss),
            ("D(x)", keras.ops.mean(d_real)),
            ("D(G(z))", keras.ops.mean(d_fake)),
        ):
            self.trackers[name].update_state(value)
        return {name: tracker.result() for name, tracker in self.trackers.items()}

    def get_config(self):
        return {
            **super().get_config(),
            "generator": keras.saving.serialize_keras_object(self.generator),
            "discriminator": keras.saving.serialize_keras_object(self.discriminator),
            "latent": self.latent,
            "r1_weight": self.r1_weight,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for network in ("generator", "discriminator"):
            config[network] = keras.saving.deserialize_keras_object(config[network])
        return cls(**config)


def dense_stack(name: str, input_shape: tuple[int, ...], layers: list[keras.layers.Layer]):
    """A Sequential network with a known input, so its weights exist as soon as it is built."""
    return keras.Sequential([keras.Input(input_shape, name="input"), *layers], name=name)


def image_generator(hidden: tuple[int, ...], initializer: str) -> keras.Model:
    """z -> ReLU layers -> 784 sigmoid pixels in [0, 1] (the real images' scale) -> 28x28x1."""
    layers = [
        keras.layers.Dense(units, activation="relu", kernel_initializer=initializer, name=f"fc{i}")
        for i, units in enumerate(hidden, start=1)
    ]
    layers += [
        keras.layers.Dense(
            784, activation="sigmoid", kernel_initializer=initializer, name="pixels"
        ),
        keras.layers.Reshape(IMAGE_SHAPE, name="image"),
    ]
    return dense_stack("generator", (LATENT_DIM,), layers)


def probability_head(initializer: str = "glorot_uniform") -> list[keras.layers.Layer]:
    """Dense(1) then sigmoid, as two layers: the logit between them is what R1 differentiates."""
    return [
        keras.layers.Dense(1, kernel_initializer=initializer, name="real_logit"),
        keras.layers.Activation("sigmoid", name="real_probability"),
    ]


GAN_RECIPE = Recipe(
    optimizer="adam",
    learning_rate=2e-4,
    loss="binary_crossentropy",
    batch_size=128,
    # D(x) on held-out real digits says little about a GAN; the run is judged by `zoo evaluate`.
    validation_split=0.0,
)

# Mescheder et al.'s gamma. Without the penalty gan-mnist's Maxout discriminator wins in the first
# epoch and the generator collapses (Fréchet distance 72.4, four digits never drawn); with it
# D(G(z)) stays near 0.48 and every digit is drawn, the rarest at 6.8-8.1% over three seeds
# (bench/gan.py; the README has the figures).
R1_WEIGHT = 10.0


def register_gan(name: str, description: str, source: str, **recipe: Any):
    """Register an MNIST GAN: latent z of 100 numbers in, 28x28x1 images out, the GAN recipe
    with the given changes."""
    return register(
        name,
        task="generative",
        dataset="mnist",
        input=InputSpec("z", (LATENT_DIM,)),
        data_scale=1 / 255,  # real digits in [0, 1], the scale of the generator's sigmoid pixels
        recipe=dataclasses.replace(GAN_RECIPE, **recipe),
        description=description,
        source=source,
    )


# The slides give no schedule for the bootcamp GAN; it takes the TF lecture's Adam 2e-4 and batch 128.
@register_gan(
    "gan-mnist",
    "G 100-128-256-784 ReLU/sigmoid; D Maxout(256, k=5)-Maxout(128, k=5)-dropout-1 sigmoid",
    "bootcamp: GAN on MNIST",
    epochs=20,
)
def gan_mnist() -> GAN:
    # The slide shows dropout after the second maxout layer without a rate; we take 0.3.
    discriminator = dense_stack(
        "discriminator",
        IMAGE_SHAPE,
        [
            keras.layers.Flatten(name="flatten"),
            Maxout(256, pieces=5, name="maxout1"),
            Maxout(128, pieces=5, name="maxout2"),
            keras.layers.Dropout(0.3, name="dropout"),
            *probability_head(),
        ],
    )
    return GAN(
        image_generator((128, 256), "glorot_uniform"),
        discriminator,
        r1_weight=R1_WEIGHT,
        name="gan_mnist",
    )


@register_gan(
    "gan-mnist-simple",
    "G 100-256-784 ReLU/sigmoid; D 784-256-1 ReLU/sigmoid; Glorot init, z ~ U(-1, 1)",
    "TF lecture: GAN",
    epochs=30,
    # Cosine decay to 0 settles the game instead of leaving the generator hopping between the
    # digits it favours (without R1: the rarest digit's share rose from 0.36% to 1.80%).
    lr_schedule="cosine",
)
def gan_mnist_simple() -> GAN:
    initializer = "glorot_normal"  # the lecture's xavier_init draws from a normal distribution
    discriminator = dense_stack(
        "discriminator",
        IMAGE_SHAPE,
        [
            keras.layers.Flatten(name="flatten"),
            keras.layers.Dense(256, activation="relu", kernel_initializer=initializer, name="fc1"),
            *probability_head(initializer),
        ],
    )
    return GAN(
        image_generator((256,), initializer),
        discriminator,
        latent="uniform",
        r1_weight=R1_WEIGHT,
        name="gan_mnist_simple",
    )
