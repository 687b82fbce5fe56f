"""Serving: a TF Serving-compatible server (REST and gRPC) over the exported model repository.

`repository` watches `models/` and loads each version into a `backends` object (ONNX Runtime or
TensorFlow behind one interface); `rest` and `grpc_service` are the two front ends on that one
repository (`rest` also speaks KServe's v2 protocol through `kserve`), `methods` answers Classify and
Regress for both from `examples`' tf.train.Example inputs, `version_labels` names versions,
`server` runs both front ends on one asyncio loop, and `client` is what `zoo predict` calls.
Data flows zoo -> export -> serving: nothing in zoo or export imports this package.
"""
