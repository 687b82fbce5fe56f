"""Parity: proof that an exported artefact computes what the Keras model computes.

Real test examples go raw (unscaled, as a client sends them) into the artefact and scaled, as the
tf.data pipeline scales them, into the Keras model, whose outputs `zoo.inference` turns into the same
named answers in NumPy; the two must agree within a tolerance, and on every predicted class.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Any

import keras
import numpy as np

from zoo import data, inference, text
from zoo.export.contract import OUTPUTS
from zoo.export.errors import ParityError
from zoo.registry import ModelSpec

TOLERANCE = 1e-4
LATENT_SEED = 0


@dataclass(frozen=True)
class Parity:
    """How closely one format matched Keras: worst absolute difference, share of equal classes."""

    format: str
    samples: int
    max_abs_diff: float
    argmax_agreement: float | None  # None for tasks without classes

    def passes(self, tolerance: float) -> bool:
        return self.max_abs_diff <= tolerance and self.argmax_agreement in (None, 1.0)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def parity_inputs(
    spec: ModelSpec, samples: int, data_dir: str | os.PathLike[str] | None = None
) -> np.ndarray:
    """The first `samples` real test examples, raw; seeded latent noise for a generator."""
    shape = (samples, *spec.input.shape)
    if spec.task == "generative":
        return np.random.default_rng(LATENT_SEED).standard_normal(shape).astype(spec.input.dtype)
    x, _ = data.load(spec.dataset, "test", data_dir)
    return np.asarray(x[:samples], dtype=spec.input.dtype)


def expected_outputs(spec: ModelSpec, model: keras.Model, raw: np.ndarray) -> dict[str, np.ndarray]:
    """The Keras model's answers to the raw inputs, named as the exported graph names them."""
    scaled = raw * np.asarray(spec.input.scale, dtype=raw.dtype)
    outputs = np.asarray(model(scaled, training=False))
    if spec.task in OUTPUTS:
        (name,) = OUTPUTS[spec.task]
        return {name: outputs}
    return {
        "probabilities": inference.class_probabilities(spec, outputs),
        "classes": inference.class_ids(spec, outputs),
    }


def measure(fmt: str, outputs: dict[str, np.ndarray], expected: dict[str, np.ndarray]) -> Parity:
    """Compare an artefact's outputs with the expected ones, output by output."""
    if set(outputs) != set(expected):
        raise ParityError(f"{fmt} returns {sorted(outputs)}, expected {sorted(expected)}")
    worst, agreement = 0.0, None
    for name, want in expected.items():
        got = outputs[name]
        if got.shape != want.shape:
            raise ParityError(f"{fmt} output {name!r} has shape {got.shape}, expected {want.shape}")
        if name == "classes":
            agreement = float(np.mean(got == want))
        else:
            worst = max(worst, float(np.max(np.abs(got.astype(np.float64) - want), initial=0.0)))
    return Parity(fmt, len(next(iter(expected.values()))), worst, agreement)


def require(results: list[Parity], tolerance: float = TOLERANCE) -> None:
    """Raise ParityError naming every format that does not match Keras closely enough."""
    failed = [r for r in results if not r.passes(tolerance)]
    if failed:
        shown = "; ".join(
            f"{r.format}: max abs diff {r.max_abs_diff:.3g} (tolerance {tolerance:g}), "
            f"argmax agreement {_agreement(r)}"
            for r in failed
        )
        raise ParityError(f"parity check failed, nothing was exported: {shown}")


def format_table(results: list[Parity]) -> str:
    """The parity results as a small text table, one row per format."""
    rows = [("format", "max abs diff", "argmax agreement")]
    rows += [(r.format, f"{r.max_abs_diff:.3g}", _agreement(r)) for r in results]
    return text.table(rows)


def _agreement(result: Parity) -> str:
    if result.argmax_agreement is None:
        return "-"
    agreed = round(result.argmax_agreement * result.samples)
    return f"{agreed}/{result.samples} ({result.argmax_agreement:.0%})"
