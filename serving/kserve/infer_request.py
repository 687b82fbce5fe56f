"""A KServe v2 infer body decoded into what the core runs: the signature it reaches and its inputs.

A module-level function of the body and the servable's signatures (plain, picklable data), so that
a large body is decoded in the decoding process (core/decoding.py) as a small one is in place.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from zoo.serving.core import json_io
from zoo.serving.core.errors import InvalidArgument
from zoo.serving.core.limits import check_shape
from zoo.serving.core.signature import ModelSignature, default_signature, key_of, signature_taking
from zoo.serving.kserve import binary_tensors, v2_model
from zoo.serving.kserve.flat_data import parse_flat_data

TENSOR_FIELDS = ("name", "shape", "datatype", "data")


def decode(
    body: bytes, header_length: bytes | None, signatures: Mapping[str, ModelSignature]
) -> tuple[dict[str, Any], str, dict[str, np.ndarray]]:
    """(the request less its inputs, the key of the signature it reaches, its input arrays)."""
    signature = default_signature(signatures)
    if header_length is None:
        request = parse_flat_data(body, signature) or json_io.parse(body)
        chunks = binary_tensors.Chunks(memoryview(b""))
    else:
        header, tail = binary_tensors.split(body, header_length)
        request, chunks = json_io.parse(header), binary_tensors.Chunks(tail)
    given = request.pop("inputs", None)
    if not isinstance(given, list) or not given:
        raise InvalidArgument("'inputs' must be a non-empty array of input tensors")
    names = (tensor.get("name") for tensor in given if isinstance(tensor, dict))
    signature = signature_taking(signatures, signature, names)
    inputs = dict(_input(tensor, signature, chunks) for tensor in given)
    chunks.check_used()
    if len(inputs) != len(given):
        raise InvalidArgument("an input is given more than once")
    return request, key_of(signatures, signature), inputs


def _input(
    tensor: Any, signature: ModelSignature, chunks: binary_tensors.Chunks
) -> tuple[str, np.ndarray]:
    """One request input as an array of its declared shape, checked against the model's input:
    from its JSON `data`, or from the binary part when its parameters give a binary_data_size."""
    size = binary_tensors.parameters(tensor).get(binary_tensors.SIZE)
    fields = TENSOR_FIELDS if size is None else TENSOR_FIELDS[:-1]
    if not isinstance(tensor, dict) or any(field not in tensor for field in fields):
        raise InvalidArgument(
            f"each input must be an object with {', '.join(TENSOR_FIELDS)} "
            f"(or parameters.{binary_tensors.SIZE} instead of data)"
        )
    name, shape, datatype = tensor["name"], tensor["shape"], tensor["datatype"]
    dtype = v2_model.input_dtype(name, datatype, signature)
    if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
        raise InvalidArgument(f"input {name}: shape must be a list of sizes, got {shape}")
    check_shape(f"input {name}", shape, dtype.itemsize)
    if size is not None:
        return name, chunks.array(name, size, dtype, shape)
    values = json_io.array(name, tensor["data"], signature)
    if values.size != math.prod(shape):
        raise InvalidArgument(f"input {name}: {values.size} values do not fill the shape {shape}")
    return name, values.reshape(shape)
