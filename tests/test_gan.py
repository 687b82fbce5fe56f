"""The MNIST GANs: the slides' sizes, Maxout by its definition, adversarial training on real digits,
checkpoints with both optimizers, the quality measure, and the run's pictures and `zoo generate`."""

import json
from pathlib import Path

import keras
import numpy as np
import pytest
from conftest import run_zoo
from helpers import Server, assert_one_line_error, fake_run, running
from PIL import Image

import zoo
from zoo import data, quality, runs, samples, weights
from zoo.data.pipeline import make_pipeline
from zoo.models.gan_mnist import (
    GAN,
    IMAGE_SHAPE,
    Maxout,
    dense_stack,
    image_generator,
    probability_head,
)
from zoo.train import compile_model

GANS = ["gan-mnist", "gan-mnist-simple"]
# id -> (generator, discriminator) trainable parameters on the slides
SLIDES = {"gan-mnist": (247_440, 1_169_409), "gan-mnist-simple": (227_344, 201_217)}
LIMIT = 256


def params(model: keras.Model) -> int:
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def compiled(name: str) -> keras.Model:
    spec = zoo.get_spec(name)
    model = zoo.create_model(name)
    compile_model(model, spec, spec.recipe, steps_per_epoch=1)
    return model


def real_batches(name: str):
    x, y = data.load("mnist", "train")
    return make_pipeline(x[:LIMIT], y[:LIMIT], zoo.get_spec(name), 64, training=True)


def discriminator_loss(model: keras.Model, real: np.ndarray, z) -> float:
    """-[log D(x) + log(1 - D(G(z)))], averaged: what the discriminator step minimizes."""
    d_real = np.asarray(model.discriminator(real), dtype=np.float64)
    d_fake = np.asarray(model.discriminator(model(z)), dtype=np.float64)
    return float(-np.mean(np.log(d_real + 1e-12)) - np.mean(np.log(1 - d_fake + 1e-12)))


@pytest.mark.parametrize("name", GANS)
def test_generator_and_discriminator_have_the_slides_sizes(name):
    model = zoo.create_model(name)
    assert (params(model.generator), params(model.discriminator)) == SLIDES[name]
    spec = zoo.get_spec(name)
    assert spec.task == "generative" and spec.input.name == "z" and spec.input.shape == (100,)
    images = np.asarray(model(model.latent_points(3, 0)))
    assert images.shape == (3, 28, 28, 1) and images.min() >= 0 and images.max() <= 1


def test_maxout_is_the_max_over_affine_pieces():
    layer = Maxout(4, pieces=3)
    x = np.random.default_rng(0).normal(size=(5, 6)).astype("float32")
    out = np.asarray(layer(x))
    kernel, bias = (np.asarray(w) for w in layer.linear.weights)
    z = x @ kernel + bias  # column i * pieces + j is piece j of unit i
    expected = np.stack([z[:, i * 3 : (i + 1) * 3].max(axis=1) for i in range(4)], axis=1)
    np.testing.assert_allclose(out, expected, rtol=1e-6)
    assert Maxout.from_config(layer.get_config()).get_config() == layer.get_config()


def test_r1_penalty_of_a_linear_discriminator_is_its_squared_weight_norm():
    # logit D(x) = w . x + b has the slope w at every image, so E ||grad_x logit||^2 = ||w||^2.
    linear = dense_stack(
        "discriminator", IMAGE_SHAPE, [keras.layers.Flatten(), *probability_head()]
    )
    model = GAN(image_generator((8,), "glorot_uniform"), linear, r1_weight=10.0)
    real = keras.ops.convert_to_tensor(np.random.default_rng(0).uniform(size=(4, *IMAGE_SHAPE)))
    d_real, penalty = model.r1_penalty(keras.ops.cast(real, "float32"))
    w = np.asarray(linear.get_layer("real_logit").kernel)
    assert float(penalty) == pytest.approx(float(np.sum(w**2)), rel=1e-5)
    np.testing.assert_allclose(d_real, linear(real), rtol=1e-6)


def test_r1_refuses_a_discriminator_whose_sigmoid_is_not_its_own_layer():
    fused = dense_stack(
        "discriminator", IMAGE_SHAPE, [keras.layers.Flatten(), keras.layers.Dense(1, "sigmoid")]
    )
    with pytest.raises(ValueError, match="ends in its sigmoid layer"):
        GAN(image_generator((8,), "glorot_uniform"), fused, r1_weight=10.0)


def test_r1_flattens_the_discriminator_around_real_digits():
    """The same 16 steps with and without the penalty: with it, D's slopes at real digits are smaller."""
    slopes = {}
    for weight in (0.0, 10.0):
        keras.utils.set_random_seed(0)
        model = compiled("gan-mnist")
        model.r1_weight = weight
        model.fit(real_batches("gan-mnist"), epochs=4, shuffle=False, verbose=0)
        x, _ = data.load("mnist", "train")
        _, penalty = model.r1_penalty(keras.ops.convert_to_tensor(x[:LIMIT] / 255, "float32"))
        slopes[weight] = float(penalty)
    assert slopes[10.0] < 0.5 * slopes[0.0]


@pytest.mark.parametrize("name", GANS)
def test_one_real_epoch_teaches_the_discriminator_and_moves_the_generator(name):
    keras.utils.set_random_seed(0)
    model = compiled(name)
    x, _ = data.load("mnist", "train")
    real = x[:LIMIT].astype("float32") / 255
    z = model.latent_points(LIMIT, 7)
    before_loss, before_images = discriminator_loss(model, real, z), np.asarray(model(z))

    history = model.fit(real_batches(name), epochs=1, shuffle=False, verbose=0).history
    assert {"d_loss", "g_loss", "D(x)", "D(G(z))"} <= set(history)
    assert discriminator_loss(model, real, z) < before_loss
    assert np.abs(np.asarray(model(z)) - before_images).max() > 1e-3


@pytest.mark.parametrize("name", GANS)
def test_keras_file_round_trip_keeps_both_networks_and_optimizers(name, tmp_path):
    keras.utils.set_random_seed(0)
    model = compiled(name)
    model.fit(real_batches(name), epochs=1, shuffle=False, verbose=0)
    model.save(tmp_path / "gan.keras")
    loaded = keras.saving.load_model(tmp_path / "gan.keras")

    z = model.latent_points(8, 3)
    np.testing.assert_array_equal(np.asarray(loaded(z)), np.asarray(model(z)))
    for network in ("generator", "discriminator"):
        for a, b in zip(
            getattr(model, network).weights, getattr(loaded, network).weights, strict=True
        ):
            np.testing.assert_array_equal(a, b)
    for optimizer in ("optimizer", "generator_optimizer"):
        saved, restored = getattr(model, optimizer), getattr(loaded, optimizer)
        assert int(restored.iterations) == int(saved.iterations) > 0
        for a, b in zip(saved.variables, restored.variables, strict=True):
            np.testing.assert_array_equal(a, b)
    loaded.fit(real_batches(name), epochs=1, shuffle=False, verbose=0)  # and it trains on


@pytest.fixture(scope="module")
def classifier():
    """The yardstick every evaluation uses: mlp-mnist with its published weights."""
    return quality.feature_classifier()


def test_frechet_distance_matches_its_closed_form():
    # b = 2a + 3: cov_b = 4 cov_a, so (cov_a cov_b)^(1/2) = 2 cov_a and the distance is
    # |3|^2 per feature + tr(cov_a + 4 cov_a - 4 cov_a) = 9 d + tr(cov_a).
    a = np.random.default_rng(0).normal(size=(300, 5)) @ np.diag([0.5, 1, 2, 3, 0.1])
    a -= a.mean(axis=0)  # so the means differ by exactly 3 in every feature
    expected = 9 * 5 + np.trace(np.cov(a, rowvar=False))
    assert quality.frechet_distance(a, 2 * a + 3) == pytest.approx(expected, rel=1e-9)


def test_frechet_distance_is_zero_for_real_digits_and_large_for_noise(classifier):
    x, _ = data.load("mnist", "train")
    first, second = x[:1000] / 255, x[1000:2000] / 255
    noise = np.random.default_rng(0).uniform(size=first.shape)
    features = {k: classifier(v)[0] for k, v in (("a", first), ("b", second), ("n", noise))}
    assert quality.frechet_distance(features["a"], features["a"]) == pytest.approx(0, abs=1e-6)
    real_vs_real = quality.frechet_distance(features["a"], features["b"])
    real_vs_noise = quality.frechet_distance(features["a"], features["n"])
    assert real_vs_real < 0.05 * real_vs_noise


def test_an_untrained_generator_measures_at_the_ceiling(classifier):
    keras.utils.set_random_seed(0)
    untrained = zoo.create_model("gan-mnist-simple")
    measured = quality.measure(untrained, "gan-mnist-simple", classifier, samples=500)
    assert measured.frechet_distance == pytest.approx(measured.frechet_ceiling, rel=1e-6)
    assert measured.frechet_floor < 0.05 * measured.frechet_ceiling
    assert sum(measured.class_shares) == pytest.approx(1)
    assert measured.min_class_share == min(measured.class_shares)
    assert 0.1 <= measured.mean_confidence <= 1
    assert "Fréchet distance" in measured.table()


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory) -> Path:
    """`zoo train gan-mnist-simple` for one epoch on real digits, as a user runs it."""
    runs_dir = tmp_path_factory.mktemp("gan-runs")
    trained = run_zoo(
        *("train", "gan-mnist-simple", "--limit", str(LIMIT), "--epochs", "1"),
        *("--runs-dir", str(runs_dir)),
    )
    assert trained.returncode == 0, trained.stderr
    assert "d_loss" in trained.stdout and "D(G(z))" in trained.stdout
    (run,) = (runs_dir / "gan-mnist-simple").iterdir()
    return run


def test_train_draws_the_sample_grids_animation_and_curves(trained_run):
    frame = Image.open(trained_run / samples.SAMPLES_DIR / "epoch-001.png")
    assert frame.size == (2 + 10 * 30, 2 + 4 * 30)  # the slide's 4 x 10 digits, 2-pixel frames
    assert Image.open(trained_run / samples.ANIMATION).format == "GIF"
    assert (trained_run / runs.CURVES).read_bytes().startswith(b"\x89PNG")
    assert "D(x)" in (trained_run / runs.HISTORY).read_text()
    assert json.loads((trained_run / runs.METRICS).read_text())["epochs"] == 1


def test_evaluate_measures_with_the_published_classifier_and_trains_nothing(trained_run):
    runs_dir = trained_run.parents[1]
    evaluated = run_zoo("evaluate", str(trained_run), "--limit", "500", "--runs-dir", str(runs_dir))
    assert evaluated.returncode == 0, evaluated.stderr
    sha = weights.entry(quality.FEATURE_MODEL)["sha256"][:8]
    assert f"classifier: mlp-mnist (pretrained {sha}), 500 samples" in evaluated.stdout
    assert "note: a short run, trained on the first" in evaluated.stdout
    recorded = json.loads((trained_run / runs.METRICS).read_text())["test"]
    assert recorded["samples"] == 500 and recorded["frechet_distance"] > recorded["frechet_floor"]
    assert sorted(p.name for p in runs_dir.iterdir()) == ["gan-mnist-simple"]  # no classifier run


def generate(out: Path, *source: str) -> np.ndarray:
    """`zoo generate ... --n 12 --seed 5 --npy`: the images it wrote."""
    generated = run_zoo("generate", *source, "--n", "12", "--seed", "5", "--out", str(out), "--npy")
    assert generated.returncode == 0, generated.stderr
    assert Image.open(out).size == (2 + 10 * 30, 2 + 2 * 30)
    return np.load(out.with_suffix(".npy"))


def test_generate_writes_a_grid_and_the_same_seed_draws_the_same_digits(trained_run, tmp_path):
    images = generate(tmp_path / "digits.png", str(trained_run))
    assert images.shape == (12, 28, 28, 1) and images.dtype == np.float32
    np.testing.assert_array_equal(generate(tmp_path / "again.png", str(trained_run)), images)


def test_generate_pretrained_draws_the_published_generators_digits(tmp_path):
    images = generate(tmp_path / "d.png", "--pretrained", "gan-mnist", "--runs-dir", str(tmp_path))
    published = zoo.create_model("gan-mnist", pretrained=True)
    np.testing.assert_allclose(images, quality.generate_images(published, 12, 5), atol=1e-6)
    assert quality.feature_classifier()(images)[1].max(axis=1).mean() > 0.8  # digits, readable
    served = run_zoo("generate", "--pretrained", "gan-mnist", "--url", "http://127.0.0.1:9")
    assert_one_line_error(served, "--pretrained draws locally")


def test_generate_refuses_a_classifier_in_one_line(trained_run, tmp_path):
    classifier = fake_run(tmp_path, "cnn-mnist")
    assert_one_line_error(run_zoo("generate", str(classifier)), "not a generator")


def test_a_served_generator_draws_what_the_keras_generator_draws(trained_run, tmp_path):
    exported = run_zoo("export", str(trained_run), "--model-dir", str(tmp_path / "models"))
    assert exported.returncode == 0, exported.stderr
    keras_images = np.asarray(
        quality.generate_images(keras.saving.load_model(trained_run / runs.MODEL), 12, 5)
    )
    with running(Server(tmp_path), "gan-mnist-simple") as served:
        for option in (("--url", served.url), ("--grpc", served.grpc_target)):
            images = generate(tmp_path / f"served{option[0]}.png", "gan-mnist-simple", *option)
            assert images.shape == (12, 28, 28, 1)
            assert images.min() >= 0 and images.max() <= 1
            np.testing.assert_allclose(images, keras_images, atol=1e-5)

        # What TF Serving's own REST API answers: the export's named input and output.
        z = quality.latent_points(keras.saving.load_model(trained_run / runs.MODEL), 3, 0)
        status, answer = served.rest(
            "/v1/models/gan-mnist-simple:predict", json.dumps({"instances": z.tolist()})
        )
        assert status == 200 and np.asarray(answer["predictions"]).shape == (3, 28, 28, 1)
