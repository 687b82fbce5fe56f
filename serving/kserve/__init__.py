"""KServe's Open Inference Protocol (v2), as Triton speaks it: its REST API (`rest_api`, with binary
tensors and a fast flat-data path) and gRPC service (`grpc_api`), over one `v2_model` (metadata,
readiness, Triton's model configuration).

It imports the core, never `tfserving`.
"""
