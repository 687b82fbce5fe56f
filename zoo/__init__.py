"""zoo: the deep-learning course's ladder of models as Keras code, ready to train, export and serve.

>>> import zoo
>>> zoo.list_models("cnn-*")
>>> zoo.list_models(pretrained=True)  # those with published weights
>>> model = zoo.create_model("cnn-mnist")
>>> zoo.predict("cnn-mnist", pixels)  # raw 0-255 pixels in; label and probabilities out

Models registered in a module of one's own join them through ZOO_PLUGINS or an installed
distribution's `zoo.models` entry point (zoo/plugins.py).

Importing zoo does not import TensorFlow; when something does, its start-up noise is kept off
stderr, as the `zoo` command keeps it (zoo/quiet.py).
"""

from zoo import quiet
from zoo.inference import predict
from zoo.registry import ModelSpec, create_model, get_spec, list_models, register

quiet.install()  # TensorFlow, imported later by whatever needs it, starts without its chatter

__all__ = ["ModelSpec", "create_model", "get_spec", "list_models", "predict", "register"]
__version__ = "0.1.0"
