"""The pretrained weights this project trained and measured, with their manifest: package data.

In a clone they are the repository's `weights/` folder; installed, the package `zoo.pretrained`
(pyproject.toml maps one onto the other), so a wheel carries them and zoo/weights.py finds them with
importlib.resources either way. `ZOO_WEIGHTS_DIR` points zoo at another folder of the same layout.
"""
