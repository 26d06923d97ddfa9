"""Encode calls and decode results, events and errors from contract ABIs.

A thin layer over ``eth_abi`` that keeps names: decoded values come back as
dicts keyed by parameter name (structs as nested dicts), addresses in EIP-55
checksum form, ``bytesN`` as ``bytes``, and Solidity enums as the Python
``IntEnum`` registered for the enum's name (from the ABI's ``internalType``,
e.g. ``enum IJobs.JobKind`` -> ``JobKind``). Arguments may be given as dicts
(by name) or sequences for structs, and as hex strings or bytes for
``bytesN``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

import eth_abi
from eth_utils import (
    collapse_if_tuple,
    is_address,
    keccak,
    to_checksum_address,
)

from offchain.errors import InputError

Abi = list[dict[str, Any]]
EnumRegistry = Mapping[str, type[IntEnum]]


def type_string(parameter: Mapping[str, Any]) -> str:
    """Return the canonical ABI type of a parameter (tuples collapsed)."""
    return collapse_if_tuple(dict(parameter))


def signature(element: Mapping[str, Any]) -> str:
    """Return ``name(type,...)`` of a function, event or error ABI entry."""
    types = ",".join(type_string(parameter) for parameter in element.get("inputs", ()))
    return f"{element['name']}({types})"


def selector(element: Mapping[str, Any]) -> bytes:
    """Return the 4-byte selector of a function or error ABI entry."""
    return keccak(text=signature(element))[:4]


def event_topic(element: Mapping[str, Any]) -> bytes:
    """Return topic 0 of an event ABI entry (keccak of its signature)."""
    return keccak(text=signature(element))


def enum_name(parameter: Mapping[str, Any]) -> str | None:
    """Return the Solidity enum name of a parameter, or None if it is no enum."""
    internal = parameter.get("internalType", "")
    if not internal.startswith("enum "):
        return None
    return internal[len("enum ") :].split(".")[-1].split("[")[0]


# ----------------------------------------------------------------------------
# encoding


def encode_arguments(parameters: Sequence[Mapping[str, Any]], values: Sequence[Any]) -> bytes:
    """ABI-encode ``values`` for ``parameters`` (function or constructor inputs)."""
    if len(values) != len(parameters):
        names = ", ".join(f"{type_string(p)} {p.get('name', '')}".strip() for p in parameters)
        raise InputError(f"expected {len(parameters)} arguments ({names}), got {len(values)}")
    types = [type_string(parameter) for parameter in parameters]
    prepared = [_prepare(parameter, value) for parameter, value in zip(parameters, values, strict=True)]
    try:
        return eth_abi.encode(types, prepared)
    except (TypeError, ValueError, OverflowError) as exc:
        raise InputError(f"cannot encode arguments {values!r} as ({','.join(types)}): {exc}") from exc


def encode_call(function: Mapping[str, Any], values: Sequence[Any]) -> bytes:
    """Return the calldata of a call: selector followed by the encoded arguments."""
    return selector(function) + encode_arguments(function.get("inputs", ()), values)


def _prepare(parameter: Mapping[str, Any], value: Any) -> Any:
    """Bring a Python value into the shape eth_abi expects for ``parameter``."""
    kind = parameter["type"]
    name = parameter.get("name") or kind
    if kind.endswith("]"):
        element = dict(parameter)
        element["type"] = kind[: kind.rindex("[")]
        if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Sequence):
            raise InputError(f"{name} must be a list for ABI type {kind}, got {value!r}")
        return [_prepare(element, item) for item in value]
    if kind == "tuple":
        components = parameter["components"]
        if isinstance(value, Mapping):
            missing = [c["name"] for c in components if c["name"] not in value]
            unknown = sorted(set(value) - {c["name"] for c in components})
            if missing or unknown:
                raise InputError(
                    f"struct {name}: missing fields {missing}, unknown fields {unknown}; "
                    f"expected {[c['name'] for c in components]}"
                )
            return tuple(_prepare(c, value[c["name"]]) for c in components)
        if hasattr(value, "__dataclass_fields__"):
            return tuple(_prepare(c, getattr(value, c["name"])) for c in components)
        if len(value) != len(components):
            raise InputError(
                f"struct {name} has {len(components)} fields, got {len(value)}: {value!r}"
            )
        return tuple(_prepare(c, item) for c, item in zip(components, value, strict=True))
    if kind == "address":
        if not isinstance(value, str) or not is_address(value):
            raise InputError(f"{name} must be a 0x-prefixed 20-byte address, got {value!r}")
        return to_checksum_address(value)
    if kind.startswith("bytes"):
        if isinstance(value, str):
            try:
                value = bytes.fromhex(value[2:] if value.startswith("0x") else value)
            except ValueError:
                raise InputError(f"{name} must be hex or bytes, got {value!r}") from None
        size = kind[len("bytes") :]
        if size and len(value) != int(size):
            raise InputError(f"{name} must be exactly {size} bytes, got {len(value)}: {value!r}")
        return bytes(value)
    if kind.startswith(("uint", "int")):
        if isinstance(value, bool) or not isinstance(value, int):
            raise InputError(f"{name} must be an integer for ABI type {kind}, got {value!r}")
        return int(value)
    return value


# ----------------------------------------------------------------------------
# decoding


def decode_values(
    parameters: Sequence[Mapping[str, Any]], data: bytes, enums: EnumRegistry | None = None
) -> dict[str, Any]:
    """Decode ABI ``data`` for ``parameters`` into a dict by parameter name.

    Unnamed parameters are keyed ``_0``, ``_1``, ... by position.
    """
    types = [type_string(parameter) for parameter in parameters]
    raw = eth_abi.decode(types, data)
    return {
        parameter.get("name") or f"_{index}": convert(parameter, value, enums)
        for index, (parameter, value) in enumerate(zip(parameters, raw, strict=True))
    }


def convert(parameter: Mapping[str, Any], value: Any, enums: EnumRegistry | None = None) -> Any:
    """Turn one value decoded by eth_abi into its Unseen-side Python form."""
    kind = parameter["type"]
    if kind.endswith("]"):
        element = dict(parameter)
        element["type"] = kind[: kind.rindex("[")]
        return [convert(element, item, enums) for item in value]
    if kind == "tuple":
        return {
            component.get("name") or f"_{index}": convert(component, item, enums)
            for index, (component, item) in enumerate(zip(parameter["components"], value, strict=True))
        }
    if kind == "address":
        return to_checksum_address(value)
    if enums is not None:
        name = enum_name(parameter)
        if name is not None and name in enums:
            try:
                return enums[name](value)
            except ValueError:
                # An enum value this client does not know: keep the number
                # rather than fail to decode the whole record.
                return value
    return value


@dataclass(frozen=True)
class DecodedLog:
    """An event log decoded against its ABI entry."""

    name: str
    args: dict[str, Any]


def decode_log(
    event: Mapping[str, Any], topics: Sequence[bytes], data: bytes, enums: EnumRegistry | None = None
) -> DecodedLog:
    """Decode one log whose topic 0 matched ``event``.

    Indexed parameters come from ``topics[1:]``; an indexed parameter of a
    dynamic type (string, bytes, array, struct) is only its keccak hash there,
    and is returned as that 32-byte hash.
    """
    inputs = event.get("inputs", ())
    indexed_count = sum(1 for p in inputs if p.get("indexed"))
    if len(topics) - 1 != indexed_count:
        raise InputError(
            f"log of {event['name']} has {len(topics) - 1} indexed topics, "
            f"its ABI declares {indexed_count}"
        )
    plain_types = [type_string(p) for p in inputs if not p.get("indexed")]
    plain_values = iter(eth_abi.decode(plain_types, data))
    topic_values = iter(topics[1:])
    args: dict[str, Any] = {}
    for index, parameter in enumerate(inputs):
        name = parameter.get("name") or f"_{index}"
        if not parameter.get("indexed"):
            args[name] = convert(parameter, next(plain_values), enums)
            continue
        topic = bytes(next(topic_values))
        kind = type_string(parameter)
        if _is_dynamic(kind):
            args[name] = topic
        else:
            (value,) = eth_abi.decode([kind], topic)
            args[name] = convert(parameter, value, enums)
    return DecodedLog(event["name"], args)


def _is_dynamic(kind: str) -> bool:
    return kind in ("string", "bytes") or kind.endswith("]") or kind.startswith("(")
