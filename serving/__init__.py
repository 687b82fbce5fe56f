"""Serving: a TF Serving-compatible server (REST and gRPC) over the exported model repository.

    core/       what every request goes through: repository (with model_sources and model_config:
                the models, base paths, version policies and labels), servables, model_files,
                signature, resolve, runner, batching, metrics, errors, limits, version_labels
    tfserving/  TF Serving's protocol: rest_api, grpc_api and their codecs
    kserve/     KServe v2's protocol: rest_api, grpc_api, v2_model, binary tensors
    http.py     the ASGI shell: bodies, limits, timeouts, routing, errors -> HTTP status
    grpc_status.py  errors -> gRPC status, for every gRPC service
    server.py   assembles both protocols on one asyncio loop (workers.py: --workers N;
                grpc_arguments.py and monitoring_config.py: TF Serving's flags for them)
    client.py   what `zoo predict` calls; playground.py with ui/: the page at /
    protos/     TF Serving's and TensorFlow's protos, compiled so that nothing imports TensorFlow

A front end parses its protocol, asks the core and writes its protocol's answer; neither protocol
package imports the other. Data flows zoo -> export -> serving: the files and zoo.json a version
holds are export's contract (export/contract.py), and nothing in zoo or export imports this package.
"""
