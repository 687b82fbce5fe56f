"""Serving: a TF Serving-compatible server (REST and gRPC) over the exported model repository.

The core: `repository` watches `models/` and loads each version into a `backends` object (ONNX
Runtime or TensorFlow behind one interface); `runner` is every request's one way to a model, through
the version's `batching` queue; `metrics` counts what they do. The front ends, thin and one per
protocol, call only the repository and the runner: `rest` (TF Serving's REST, and KServe's v2 through
`kserve`; `json_tensors` reads and writes their JSON) and `grpc_service` (TF Serving's gRPC;
`tensor_proto` converts its tensors; KServe's v2 gRPC through `kserve_grpc` on the same port, and
`grpc_status` maps errors to gRPC codes for both). `v2_model` is KServe v2's side of the core for
its two front ends: datatypes, metadata, readiness and Triton's model config. `methods` answers
Classify and Regress for both from `examples`' tf.train.Example inputs, `version_labels` names versions, `server` runs both front ends
on one asyncio loop, and `client` is what `zoo predict` calls. `protos` holds TF Serving's and
TensorFlow's protos as compiled from the official definitions, so that none of it imports TensorFlow.
Data flows zoo -> export -> serving: nothing in zoo or export imports this package.
"""
