"""zoo: the deep-learning course's ladder of models as Keras code, ready to train, export and serve.

>>> import zoo
>>> zoo.list_models("cnn-*")
>>> zoo.list_models(pretrained=True)  # those with published weights
>>> model = zoo.create_model("cnn-mnist")
"""

from zoo.registry import ModelSpec, create_model, get_spec, list_models, register

__all__ = ["ModelSpec", "create_model", "get_spec", "list_models", "register"]
__version__ = "0.1.0"
