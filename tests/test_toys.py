"""The small-table models reach the slides' answers with their default recipes."""

import pytest

from zoo.evaluate import evaluate
from zoo.registry import get_spec
from zoo.train import train

TOYS = [
    "linear-regression",
    "linear-regression-2d",
    "logistic-regression",
    "softmax-classification",
    "perceptron-and",
    "perceptron-or",
    "xor-mlp",
    "xor-mlp-wide",
    "xor-mlp-deep",
]


@pytest.mark.parametrize("name", TOYS)
def test_toy_model_gives_the_slide_prediction(name, tmp_path):
    result = train(name, runs_dir=tmp_path, verbose=0)
    assert result.example, "every toy model declares the slide's test input"
    for _, ours, slide in result.example:
        if isinstance(slide, float):
            assert ours == pytest.approx(slide, abs=0.05)
        else:
            assert ours == slide
    # The slides evaluate on their own table: every classifier, XOR included, gets all of it right.
    test = evaluate(result.run_dir).metrics
    if get_spec(name).task == "regression":
        assert test["mae"] < 0.05
    else:
        assert test["accuracy"] == 1.0


def test_diabetes_recipe_beats_the_slide_on_held_out_rows(tmp_path):
    run = train("diabetes", runs_dir=tmp_path, verbose=0).run_dir
    test = evaluate(run).metrics
    assert test["examples"] == 151
    assert test["accuracy"] >= get_spec("diabetes").slide_value
