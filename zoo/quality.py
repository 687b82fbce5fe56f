"""How good a generator's digits are, measured with a trained zoo classifier instead of by eye.

Fréchet distance: the squared distance between two Gaussians fitted to classifier features,
|mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a S_b)^(1/2)), as FID does with Inception features. Here the
features are the 256 activations before the softmax of `mlp-mnist` (97.5% on the test split), small
enough for an exact matrix square root in a second. The reference is 10,000 seeded training images;
real test images give the floor (what "as good as real" reads as), an untrained generator the
ceiling. The classifier's class histogram says whether every digit is drawn (mode collapse leaves
classes out) and its mean confidence how recognizable the digits are.

Which classifier: always `mlp-mnist` with the weights this project published for it (weights/), so
that figures compare across runs and machines and nothing is trained first. Publishing new
`mlp-mnist` weights changes the yardstick: the GANs' published figures are measured again then.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Any

import keras
import numpy as np

from zoo import data, text, weights
from zoo.registry import create_model, get_spec

FEATURE_MODEL = "mlp-mnist"
SAMPLES = 10_000
SAMPLE_SEED = 2024  # the latent points every evaluation draws
REFERENCE_SEED = 0  # which training images make the reference
BATCH = 1000


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two sets of feature rows.

    tr((S_a S_b)^(1/2)) is the sum of the square roots of the eigenvalues of S_a^(1/2) S_b S_a^(1/2),
    a symmetric matrix with the same spectrum: `eigh` finds them stably even where dead ReLU units
    make the covariances singular, which a general matrix square root warns about.
    """
    mu_a, mu_b = a.mean(axis=0), b.mean(axis=0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root_a = _psd_sqrt(cov_a)
    product = np.linalg.eigvalsh(root_a @ cov_b @ root_a)
    trace_root = np.sqrt(np.clip(product, 0, None)).sum()
    return float(np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a) + np.trace(cov_b) - 2 * trace_root)


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    """The symmetric square root of a covariance matrix (round-off negatives clipped to 0)."""
    values, vectors = np.linalg.eigh(matrix)
    return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T


class FeatureClassifier:
    """A trained Sequential digit classifier read as a feature extractor: every layer but the last."""

    def __init__(self, model: keras.Model, source: str):
        self.model = model
        self.source = source

    def __call__(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(features, class probabilities) of images with pixels in [0, 1], in batches."""
        features, probabilities = [], []
        for start in range(0, len(images), BATCH):
            x = keras.ops.convert_to_tensor(images[start : start + BATCH], dtype="float32")
            for layer in self.model.layers[:-1]:
                x = layer(x)
            features.append(np.asarray(x, dtype=np.float64))
            probabilities.append(np.asarray(self.model.layers[-1](x), dtype=np.float64))
        return np.concatenate(features), np.concatenate(probabilities)


def feature_classifier() -> FeatureClassifier:
    """The yardstick: `mlp-mnist` with its published weights, the same on every machine and for
    every run, as FID's Inception network is; its source names the weights by hash."""
    model = create_model(FEATURE_MODEL, pretrained=True)
    return FeatureClassifier(model, f"pretrained {weights.entry(FEATURE_MODEL)['sha256'][:8]}")


@dataclass
class Quality:
    """A generator's figures; distances are in the classifier's feature space (lower is better)."""

    samples: int
    frechet_distance: float
    frechet_floor: float
    frechet_ceiling: float
    min_class_share: float
    mean_confidence: float
    class_shares: list[float]
    classifier: str

    def scalars(self) -> dict[str, float]:
        """The figures that are one number each (what `zoo evaluate` prints on its summary line)."""
        return {k: v for k, v in asdict(self).items() if isinstance(v, float)}

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def table(self) -> str:
        rows = [
            ("measure", "value"),
            ("Fréchet distance (samples vs train)", f"{self.frechet_distance:.3f}"),
            ("  floor: real test vs train", f"{self.frechet_floor:.3f}"),
            ("  ceiling: untrained generator", f"{self.frechet_ceiling:.3f}"),
            ("smallest class share", f"{self.min_class_share:.2%}"),
            ("mean classifier confidence", f"{self.mean_confidence:.2%}"),
            *((f"  class {c}", f"{share:.2%}") for c, share in enumerate(self.class_shares)),
        ]
        return f"{text.table(rows)}\nclassifier: {FEATURE_MODEL} ({self.classifier}), {self.samples:,} samples"


def latent_points(model: keras.Model, n: int, seed: int) -> np.ndarray:
    """The n seeded latent points `generate_images` draws, from the generator's own distribution."""
    return np.concatenate(
        [
            np.asarray(model.latent_points(min(BATCH, n - start), seed + start))
            for start in range(0, n, BATCH)
        ]
    )


def generate_images(model: keras.Model, n: int, seed: int) -> np.ndarray:
    """n images from the generator at seeded latent points, pixels in [0, 1]."""
    z = latent_points(model, n, seed)
    return np.concatenate(
        [np.asarray(model(z[start : start + BATCH])) for start in range(0, n, BATCH)]
    )


def measure(
    model: keras.Model,
    name: str,
    classifier: FeatureClassifier,
    *,
    samples: int = SAMPLES,
    data_dir: str | os.PathLike[str] | None = None,
) -> Quality:
    """The quality figures of generator `model` (an instance of model id `name`)."""
    spec = get_spec(name)
    scale = get_spec(FEATURE_MODEL).input.scale
    train_x, _ = data.load(spec.dataset, "train", data_dir)
    test_x, _ = data.load(spec.dataset, "test", data_dir)
    chosen = np.random.default_rng(REFERENCE_SEED).choice(len(train_x), samples, replace=False)
    reference, _ = classifier(train_x[chosen] * scale)
    test_features, _ = classifier(test_x[:samples] * scale)

    keras.utils.set_random_seed(0)
    untrained = create_model(name)
    untrained_features, _ = classifier(generate_images(untrained, samples, SAMPLE_SEED))
    features, probabilities = classifier(generate_images(model, samples, SAMPLE_SEED))

    shares = np.bincount(probabilities.argmax(axis=1), minlength=10) / samples
    return Quality(
        samples=samples,
        frechet_distance=frechet_distance(features, reference),
        frechet_floor=frechet_distance(test_features, reference),
        frechet_ceiling=frechet_distance(untrained_features, reference),
        min_class_share=float(shares.min()),
        mean_confidence=float(probabilities.max(axis=1).mean()),
        class_shares=[float(s) for s in shares],
        classifier=classifier.source,
    )
