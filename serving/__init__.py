"""Serving: a TF Serving-compatible server (REST and gRPC) over the exported model repository.

`repository` watches `models/` and loads each version into a `backends` object (ONNX Runtime or
TensorFlow behind one interface); `rest` and `grpc_service` are the two front ends on that one
repository, `server` runs both on one asyncio loop, and `client` is what `zoo predict` calls.
Data flows zoo -> export -> serving: nothing in zoo or export imports this package.
"""
