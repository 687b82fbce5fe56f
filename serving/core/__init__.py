"""The core every front end goes through: the repository of versions and their servables (ONNX
Runtime or TensorFlow), what a version folder holds (`model_files`: its named signatures, read from
the model files), the signatures' checks, `resolve` (a request's model, version or label ->
servable, and its signature), the runner and its batching, metrics, errors, limits and version
labels.

Nothing here knows a protocol: the front ends (`tfserving`, `kserve`) read their wire format, ask the
core, and write their answer.
"""
