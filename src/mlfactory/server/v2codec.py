"""Tensors of the Open Inference Protocol V2 (KServe / Triton), JSON and binary, to and from NumPy.

Supports the ``binary_tensor_data`` extension that Triton's clients use by default: the JSON header's
length is in the ``Inference-Header-Content-Length`` header, and each binary tensor's bytes follow it in
input order (``parameters.binary_data_size``). BYTES elements are each a 4-byte little-endian length then
the bytes.

Missing values: ``null`` in JSON ``data``; NaN in a binary FP tensor (which has no null). A NaN in JSON data
is refused like any NaN sent as a value. Text and category columns take BYTES (strings), never numbers.
"""

from __future__ import annotations

import math
import struct
from typing import Any, NamedTuple

import numpy as np

from mlfactory.errors import ValidationError
from mlfactory.inputs import NUMERIC, Columns, Payload, Rows

NUMPY_TYPES: dict[str, Any] = {
    "BOOL": np.bool_,
    "UINT8": np.uint8,
    "UINT16": np.uint16,
    "UINT32": np.uint32,
    "UINT64": np.uint64,
    "INT8": np.int8,
    "INT16": np.int16,
    "INT32": np.int32,
    "INT64": np.int64,
    "FP16": np.float16,
    "FP32": np.float32,
    "FP64": np.float64,
}
DATATYPES = (*NUMPY_TYPES, "BYTES")
INTEGER_TYPES = ("UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64")
COLUMN_TYPES = {"number": "FP64", "integer": "INT64", "boolean": "BOOL"}


def column_datatype(kind: str) -> str:
    """The V2 datatype advertised for a signature column type."""
    return COLUMN_TYPES.get(kind, "BYTES")


def array_datatype(arr: np.ndarray) -> str:
    kind = arr.dtype.kind
    if kind == "b":
        return "BOOL"
    if kind in "iu":
        return "INT64"
    if kind == "f":
        return "FP64"
    return "BYTES"


def _bytes_elements(raw: bytes, name: str) -> list[bytes]:
    out, i = [], 0
    while i < len(raw):
        if i + 4 > len(raw):
            raise ValidationError(f"input '{name}': truncated BYTES element at byte {i}")
        (n,) = struct.unpack_from("<I", raw, i)
        i += 4
        out.append(raw[i : i + n])
        i += n
    return out


def _shape(spec: Any, name: str) -> list[int]:
    if not isinstance(spec, list) or not spec or not all(isinstance(d, int) and d >= 0 for d in spec):
        raise ValidationError(
            f"input '{name}': 'shape' must be a list of non-negative integers, got {spec!r}"
        )
    return spec


def _check_integers(arr: np.ndarray, data: Any, name: str, datatype: str) -> None:
    """Refuse JSON values an integer tensor cannot hold (a cast would make NaN, infinity and numbers out of
    range the type's minimum, and cut fractions): the first one, as sent, by its position in ``data``."""
    info = np.iinfo(NUMPY_TYPES[datatype])
    low, high = int(info.min), int(info.max)
    flat = arr.ravel()
    if flat.dtype.kind in "iu":
        bad = (flat < low) | (flat > high)
        if not bad.any():
            return
    elif flat.dtype.kind == "b":
        return
    # floats, or integers NumPy could not hold: look at the values as sent (a float array lost their digits)
    values = np.asarray(data, dtype=object).ravel().tolist()
    for i, v in enumerate(values):
        if _bad_integer(v, low, high):
            raise ValidationError(
                f"input '{name}' ({datatype}) element {i}: {v!r} is not a whole number from {low} to "
                f"{high}; send integers in that range (null for a missing value), or declare the tensor FP64"
            )


def _check_range(sent: np.ndarray, cast: np.ndarray, name: str, datatype: str) -> None:
    """Refuse finite numbers an FP16 or FP32 tensor cannot hold (the cast made them infinite)."""
    over = np.isinf(cast) & np.isfinite(sent.astype(np.float64))
    if over.any():
        i = int(np.flatnonzero(over.ravel())[0])
        limit = float(np.finfo(NUMPY_TYPES[datatype]).max)
        raise ValidationError(
            f"input '{name}' ({datatype}) element {i}: {sent.ravel()[i].item()!r} is beyond {datatype}'s "
            f"range (±{limit:.6g}); send it as FP64"
        )


def _check_booleans(arr: np.ndarray, name: str) -> None:
    """A BOOL tensor takes true and false (1 and 0, as some encoders write them) or null; a cast would make
    any other number true."""
    for i, v in enumerate(arr.ravel().tolist()):
        if v is not None and not isinstance(v, bool) and not (isinstance(v, int | float) and v in (0, 1)):
            shown = repr(v) if isinstance(v, int | float | str) else type(v).__name__
            raise ValidationError(
                f"input '{name}' (BOOL) element {i}: {shown} is not a boolean; send true or false (or 1 or 0)"
            )


def _bad_integer(v: Any, low: int, high: int) -> bool:
    if v is None or isinstance(v, bool) or not isinstance(v, int | float):
        return False  # null is a missing value; text and other kinds are named by the input checks
    if isinstance(v, float):
        return not math.isfinite(v) or not v.is_integer() or not low <= v < float(high) + 1
    return not low <= v <= high


class _Tensor(NamedTuple):
    """A request input's header: its name, datatype, shape and element count, and its parameters."""

    name: str
    datatype: str
    shape: list[int]
    size: int
    params: dict[str, Any]


def _header(tensor: Any, i: int) -> _Tensor:
    if not isinstance(tensor, dict):
        raise ValidationError(f"inputs[{i}] must be an object with name, shape, datatype and data")
    name = tensor.get("name")
    if not isinstance(name, str):
        raise ValidationError(f"inputs[{i}] needs a 'name'")
    datatype = tensor.get("datatype")
    if datatype not in DATATYPES:
        raise ValidationError(f"input '{name}': datatype {datatype!r} is not one of {', '.join(DATATYPES)}")
    shape = _shape(tensor.get("shape"), name)
    params = tensor.get("parameters")
    if params is None:
        params = {}
    elif not isinstance(params, dict):
        raise ValidationError(
            f"input '{name}': 'parameters' must be an object such as {{\"binary_data_size\": 64}}"
        )
    # a Python int: NumPy's product wraps around for huge shapes
    return _Tensor(name, str(datatype), shape, math.prod(shape), params)


def _binary_values(head: _Tensor, binary: memoryview, offset: int) -> tuple[np.ndarray, int]:
    """A binary tensor's values (flat) read from the body after the JSON header, and the new offset."""
    name, datatype, shape, size = head.name, head.datatype, head.shape, head.size
    length = head.params["binary_data_size"]
    if isinstance(length, bool) or not isinstance(length, int) or length < 0 or offset + length > len(binary):
        raise ValidationError(f"input '{name}': binary_data_size {length!r} does not fit the body")
    raw = bytes(binary[offset : offset + length])
    if datatype == "BYTES":
        elements = _bytes_elements(raw, name)
        if len(elements) != size:
            raise ValidationError(f"input '{name}': shape {shape} needs {size} values, got {len(elements)}")
        arr = np.empty(size, dtype=object)
        arr[:] = elements
        return arr, offset + length
    dtype = np.dtype(NUMPY_TYPES[datatype]).newbyteorder("<")
    if length != size * dtype.itemsize:
        raise ValidationError(
            f"input '{name}': shape {shape} of {datatype} needs {size * dtype.itemsize} bytes, got {length}"
        )
    return np.frombuffer(raw, dtype=dtype).astype(NUMPY_TYPES[datatype]), offset + length


def _json_values(head: _Tensor, data: Any) -> np.ndarray:
    """A JSON tensor's ``data`` as an array, refusing values its datatype cannot hold."""
    name, datatype = head.name, head.datatype
    try:
        arr = np.asarray(data, dtype=object if datatype == "BYTES" else None)
    except (ValueError, TypeError):
        raise ValidationError(
            f"input '{name}': 'data' must be a flat or nested list of {datatype} values"
        ) from None
    if datatype in INTEGER_TYPES and arr.dtype.kind in "iufbO":
        _check_integers(arr, data, name, datatype)
    elif datatype == "BOOL" and arr.dtype.kind in "iufO":
        _check_booleans(arr, name)
    if (arr.dtype.kind == "f" and np.isnan(arr).any()) or arr.dtype.kind == "U":
        # as sent, so the input checks name a bad value's row: JSON has null for a missing value (a NaN was
        # sent as a number), and NumPy would make every value of a list mixing text and numbers text
        return np.asarray(data, dtype=object)
    if datatype != "BYTES" and arr.dtype.kind in "iufb":
        with np.errstate(over="ignore"):
            cast = arr.astype(NUMPY_TYPES[datatype])
        if cast.dtype.kind == "f" and arr.dtype.kind in "iuf":
            _check_range(arr, cast, name, datatype)
        return cast
    return arr.astype(object) if arr.dtype.kind in "OU" else arr


def decode_input(tensor: Any, i: int, binary: memoryview, offset: int) -> tuple[str, np.ndarray, str, int]:
    """One request input as (name, array in its shape, datatype, new binary offset)."""
    head = _header(tensor, i)
    if "binary_data_size" in head.params:
        arr, offset = _binary_values(head, binary, offset)
        return head.name, arr.reshape(head.shape), head.datatype, offset
    if "data" not in tensor:
        raise ValidationError(f"input '{head.name}' has neither 'data' nor parameters.binary_data_size")
    arr = _json_values(head, tensor["data"])
    if arr.size != head.size:
        raise ValidationError(
            f"input '{head.name}': shape {head.shape} needs {head.size} values, got {arr.size}"
        )
    return head.name, arr.reshape(head.shape), head.datatype, offset


def to_payload(
    decoded: list[tuple[str, np.ndarray, str, int]],
    names: list[str],
    kinds: list[str],
    sent: list[str] | None = None,
) -> Payload:
    """One 2-D input in the order of ``sent`` (what the model's metadata lists: the inputs a request
    carries; None: every feature) → rows; otherwise one input per column → columns."""
    order = names if sent is None else sent
    if len(decoded) == 1 and decoded[0][0] not in order:
        name, arr, datatype, _ = decoded[0]
        if arr.ndim != 2 or arr.shape[1] != len(order):
            raise ValidationError(
                f"input '{name}' has shape {list(arr.shape)}; send one 2-D input of shape "
                f"[rows, {len(order)}] "
                f"with the columns in this order: {order}, or one input per column named after it"
            )
        strings = datatype == "BYTES" or arr.dtype == object
        return Rows(arr, None if order == names else list(order), strings_are_numbers=strings)
    columns: dict[str, Any] = {}
    strings = False
    for name, arr, datatype, _ in decoded:
        if name in columns:
            raise ValidationError(f"input '{name}' is given twice; send each column once")
        if arr.ndim == 2 and arr.shape[1] == 1:
            arr = arr[:, 0]
        if arr.ndim != 1:
            raise ValidationError(
                f"input '{name}' has shape {list(arr.shape)}; a column input must be [rows] or [rows, 1]"
            )
        if datatype == "BYTES" and name in names and kinds[names.index(name)] in NUMERIC:
            strings = True
        columns[name] = arr
    return Columns(columns, strings_are_numbers=strings)


def encode_output(name: str, arr: np.ndarray, binary: bool) -> tuple[dict[str, Any], bytes | None]:
    """An output tensor as its JSON description and, when binary, its bytes."""
    datatype = array_datatype(arr)
    out: dict[str, Any] = {"name": name, "shape": list(arr.shape), "datatype": datatype}
    if not binary:
        out["data"] = arr.ravel().tolist()
        return out, None
    if datatype == "BYTES":
        parts = []
        for v in arr.ravel().tolist():
            b = v if isinstance(v, bytes) else str(v).encode()
            parts.append(struct.pack("<I", len(b)) + b)
        raw = b"".join(parts)
    else:
        raw = np.ascontiguousarray(arr, dtype=np.dtype(NUMPY_TYPES[datatype]).newbyteorder("<")).tobytes()
    out["parameters"] = {"binary_data_size": len(raw)}
    return out, raw
