"""TF Serving's and TensorFlow's protos, compiled by protoc, importable without TensorFlow.

`tensorflow_serving.apis` imports `tensorflow.core...`, and so all of TensorFlow (7 s, 600 MB)
before a server can answer. These modules are protoc's output for the same official definitions,
under `zoo.serving.protos.`: `zoo.serving.protos.tensorflow_serving.apis.predict_pb2` is
`tensorflow_serving.apis.predict_pb2`, message for message and byte for byte. `generate` writes
them from the descriptors tensorflow-serving-api and TensorFlow ship, so the two sets register
identical files in protobuf's default pool: a process may import both (the tests do), and their
messages are the same classes.
"""
