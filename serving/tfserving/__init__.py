"""TF Serving's protocol: its REST API (`rest_api`) and gRPC services (`grpc_api`), their JSON and
TensorProto codecs, tf.train.Example inputs, Classify and Regress, and the signature metadata.

It imports the core, never `kserve`.
"""
