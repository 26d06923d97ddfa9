"""What a compute node commits to on chain, as bytes anyone can recompute.

A compute node posts ``commitResult(jobId, resultCommitment, transcriptHash)``
with::

    resultCommitment = keccak256(result_bytes(names, arrays) ‖ nonce)

where ``names`` are the job's output names in plan order, ``arrays`` the
transport arrays of the node's exported share payload of each output, in the
same order (three per output: the :meth:`SharePayload.to_message` header and
the two components, see :func:`payload_arrays`), and ``nonce`` 32 fresh random
bytes handed to the result recipient together with the payload. The nonce
keeps the commitment from revealing anything about the shares; without it a
party could test guesses of a share against the chain.

Byte layout (all integers big-endian)::

    result_bytes = b"unseen-result/v1"
                   ‖ u16 len(names) ‖ for each name: u16 len(utf8) ‖ utf8
                   ‖ encode_arrays(arrays)
    encode_arrays = b"UNSA\\x01" ‖ u32 count
                   ‖ for each array: u8 len(dtype.str) ‖ dtype.str (ASCII, e.g. "<u8")
                                     ‖ u8 ndim ‖ u64 shape[i]... ‖ u64 nbytes ‖ C-order bytes

The same arrays always give the same bytes, so the requester, a regulator
holding published evidence (``unseen audit verify-job --evidence``) and the
node itself compute the same commitment. This module is in layer 3 so that
the node (layer 5), the requester SDK and the audit (layer 6) share one
definition.

A job evaluated at its owner (PUBLISH) has one "compute node", the owner,
whose arrays are its plain outputs (one ``int64`` array per output, in plan
order) rather than share payloads; the commitment is the same function.

An owner commits to its input with ``commitInput(jobId, index,
input_fingerprint(...), rowsUsed)``::

    input_fingerprint = keccak256(b"unseen-input/v1"
                                  ‖ for each shared array, plan order:
                                      u16 len(utf8 name) ‖ utf8 name ‖ encode_arrays([ring elements]))

i.e. a hash of the exact values it secret-shares after encoding into Z_2^64.

**Result evidence.** A requester that finds a node's payload off its
commitment, or the replicated components disagreeing, disputes the job
naming the suspect, and keeps the payloads it received as a
:class:`ResultEvidence` file; the dispute's ``evidenceHash`` is
:meth:`ResultEvidence.evidence_hash`, ``keccak256`` of the file's bytes,
so ``unseen audit verify-job JOB --evidence FILE`` confirms both that the
file is the one the dispute names and who deviated. File format (JSON,
UTF-8, sorted keys, compact separators, one trailing newline)::

    {
      "format": "unseen-result-evidence/v1",
      "chain_id": 31337,
      "jobs_contract": "0x…",
      "job_id": 6,
      "outputs": ["count", "sum"],            # output names, plan order
      "results": [                            # one per compute node, by node index
        {"node_index": 0, "node": "0x…",
         "nonce": "0x…64 hex…",
         "payload": "base64 of encode_arrays(arrays)"},
        …
      ]
    }

Publishing the evidence reveals the result to whoever reads the file: give
it to the regulator, not to the whole consortium.
"""

from __future__ import annotations

import base64
import binascii
import json
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from eth_utils import is_address, keccak, to_checksum_address

from offchain.errors import InputError
from offchain.mpc.sharing import SharePayload, encode_plain
from offchain.programs.base import SharedArray

RESULT_DOMAIN = b"unseen-result/v1"
INPUT_DOMAIN = b"unseen-input/v1"
EVIDENCE_FORMAT = "unseen-result-evidence/v1"
ARRAYS_MAGIC = b"UNSA\x01"
NONCE_BYTES = 32
MAX_DIMENSIONS = 16
ARRAYS_PER_PAYLOAD = 3


def encode_arrays(arrays: Sequence[np.ndarray]) -> bytes:
    """Return ``arrays`` as one canonical blob (layout in the module docstring)."""
    parts = [ARRAYS_MAGIC, struct.pack(">I", len(arrays))]
    for array in arrays:
        array = np.asarray(array)
        if not array.flags.c_contiguous:  # np.ascontiguousarray would turn 0-d into 1-d
            array = array.copy(order="C")
        if array.dtype.hasobject:
            raise InputError(f"cannot encode an array of Python objects ({array.dtype})")
        if array.ndim > MAX_DIMENSIONS:
            raise InputError(f"cannot encode an array of {array.ndim} dimensions (at most {MAX_DIMENSIONS})")
        dtype = array.dtype.str.encode("ascii")
        parts.append(struct.pack(">B", len(dtype)) + dtype)
        parts.append(struct.pack(">B", array.ndim) + b"".join(struct.pack(">Q", n) for n in array.shape))
        parts.append(struct.pack(">Q", array.nbytes))
        parts.append(array.tobytes())
    return b"".join(parts)


def decode_arrays(blob: bytes) -> list[np.ndarray]:
    """Parse a blob made by :func:`encode_arrays`; refuse anything malformed or trailing."""
    view = memoryview(blob)
    if bytes(view[: len(ARRAYS_MAGIC)]) != ARRAYS_MAGIC:
        raise InputError("not an array blob (bad magic); it was not written by this version of Unseen")
    offset = len(ARRAYS_MAGIC)

    def take(size: int) -> memoryview:
        nonlocal offset
        if offset + size > len(view):
            raise InputError(f"array blob truncated at byte {offset} (wanted {size} more)")
        chunk = view[offset: offset + size]
        offset += size
        return chunk

    (count,) = struct.unpack(">I", take(4))
    arrays = []
    for _ in range(count):
        (dtype_length,) = struct.unpack(">B", take(1))
        try:
            dtype = np.dtype(bytes(take(dtype_length)).decode("ascii"))
        except (TypeError, ValueError, UnicodeDecodeError) as exc:
            raise InputError(f"array blob holds an unknown dtype: {exc}") from exc
        if dtype.hasobject:
            raise InputError("array blob holds Python objects; refused")
        (ndim,) = struct.unpack(">B", take(1))
        if ndim > MAX_DIMENSIONS:
            raise InputError(f"array blob holds an array of {ndim} dimensions (at most {MAX_DIMENSIONS})")
        shape = tuple(struct.unpack(">Q", take(8))[0] for _ in range(ndim))
        (nbytes,) = struct.unpack(">Q", take(8))
        expected = int(np.prod(shape, dtype=object)) * dtype.itemsize
        if nbytes != expected:
            raise InputError(f"array blob: {nbytes} bytes for shape {shape} of {dtype} (expected {expected})")
        arrays.append(np.frombuffer(take(nbytes), dtype=dtype).reshape(shape).copy())
    if offset != len(view):
        raise InputError(f"array blob has {len(view) - offset} trailing bytes")
    return arrays


def payload_arrays(payloads: Mapping[str, SharePayload], names: Sequence[str]) -> list[np.ndarray]:
    """Return the transport arrays of ``payloads`` in ``names`` order (three per output)."""
    missing = [name for name in names if name not in payloads]
    if missing:
        raise InputError(f"share payloads {missing} are missing; have {sorted(payloads)}")
    return [array for name in names for array in payloads[name].to_message()]


def payloads_from_arrays(names: Sequence[str], arrays: Sequence[np.ndarray]) -> dict[str, SharePayload]:
    """Inverse of :func:`payload_arrays`; refuses a count that does not fit the names."""
    if len(arrays) != ARRAYS_PER_PAYLOAD * len(names):
        raise InputError(
            f"{len(names)} share payloads need {ARRAYS_PER_PAYLOAD * len(names)} arrays, got {len(arrays)}"
        )
    return {name: SharePayload.from_message(list(arrays[3 * i: 3 * i + 3])) for i, name in enumerate(names)}


def result_bytes(names: Sequence[str], arrays: Sequence[np.ndarray]) -> bytes:
    """Return the canonical bytes of a node's result: output names, then its share arrays."""
    encoded_names = []
    for name in names:
        raw = name.encode()
        if len(raw) > 0xFFFF:
            raise InputError(f"output name of {len(raw)} bytes is too long (at most 65535)")
        encoded_names.append(struct.pack(">H", len(raw)) + raw)
    if len(names) > 0xFFFF:
        raise InputError(f"{len(names)} outputs are too many (at most 65535)")
    return RESULT_DOMAIN + struct.pack(">H", len(names)) + b"".join(encoded_names) + encode_arrays(arrays)


def result_commitment(payload: bytes, nonce: bytes) -> bytes:
    """Return ``keccak256(payload ‖ nonce)``: the value ``commitResult`` records."""
    if len(nonce) != NONCE_BYTES:
        raise InputError(f"a result nonce is {NONCE_BYTES} bytes, got {len(nonce)}")
    return keccak(bytes(payload) + bytes(nonce))


def input_fingerprint(arrays: Mapping[str, np.ndarray], shared: Sequence[SharedArray],
                      fractional_bits: int) -> bytes:
    """Return an owner's input commitment: a hash of the ring elements it shares (module docstring)."""
    parts = [INPUT_DOMAIN]
    for spec in shared:
        encoded = encode_plain(np.asarray(arrays[spec.name]), spec.kind, fractional_bits)
        name = spec.name.encode()
        parts.append(struct.pack(">H", len(name)) + name + encode_arrays([encoded]))
    return keccak(b"".join(parts))


# -- result evidence ------------------------------------------------------------------------


@dataclass(frozen=True)
class NodeResult:
    """One compute node's result as the requester received it: its arrays and nonce."""

    node_index: int
    node: str
    nonce: bytes
    arrays: tuple[np.ndarray, ...]

    def commitment(self, outputs: Sequence[str]) -> bytes:
        """``keccak256(result_bytes(outputs, arrays) ‖ nonce)``: what the node should have posted."""
        return result_commitment(result_bytes(outputs, self.arrays), self.nonce)


@dataclass(frozen=True)
class ResultEvidence:
    """The result arrays a requester received from each compute node of a job, with their nonces.

    Three share payloads for an MPC job; one set of plain outputs for a job
    evaluated at its owner. The file format is in the module docstring.
    """

    chain_id: int
    jobs_contract: str
    job_id: int
    outputs: tuple[str, ...]
    results: tuple[NodeResult, ...]

    @classmethod
    def build(cls, chain_id: int, jobs_contract: str, job_id: int, outputs: Sequence[str],
              results: Sequence[tuple[str, Mapping[str, SharePayload], bytes]]) -> ResultEvidence:
        """Evidence from ``(node address, share payloads by output name, nonce)`` per node, in node order."""
        return cls.from_arrays(chain_id, jobs_contract, job_id, outputs, [
            (node, payload_arrays(payloads, outputs), nonce) for node, payloads, nonce in results])

    @classmethod
    def from_arrays(cls, chain_id: int, jobs_contract: str, job_id: int, outputs: Sequence[str],
                    results: Sequence[tuple[str, Sequence[np.ndarray], bytes]]) -> ResultEvidence:
        """Evidence from ``(node address, the arrays it delivered, nonce)`` per node, in node order.

        A nonce that is not 32 bytes (a node that sent a malformed one) is
        recorded as 32 zero bytes: no commitment can match it, so the node is
        named all the same.
        """
        return cls(chain_id, to_checksum_address(jobs_contract), job_id, tuple(outputs), tuple(
            NodeResult(index, to_checksum_address(node),
                       bytes(nonce) if len(nonce) == NONCE_BYTES else bytes(NONCE_BYTES),
                       tuple(np.asarray(array) for array in arrays))
            for index, (node, arrays, nonce) in enumerate(results)))

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": EVIDENCE_FORMAT, "chain_id": self.chain_id, "jobs_contract": self.jobs_contract,
            "job_id": self.job_id, "outputs": list(self.outputs),
            "results": [{"node_index": r.node_index, "node": r.node, "nonce": "0x" + r.nonce.hex(),
                         "payload": base64.b64encode(encode_arrays(list(r.arrays))).decode("ascii")}
                        for r in self.results],
        }

    def to_json(self) -> bytes:
        """The canonical file bytes (sorted keys, compact separators, trailing newline)."""
        return (json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":")) + "\n").encode()

    def evidence_hash(self) -> bytes:
        """``keccak256`` of :meth:`to_json`: the ``evidenceHash`` a dispute citing this file carries."""
        return keccak(self.to_json())

    def save(self, path: str | Path) -> Path:
        target = Path(path)
        target.write_bytes(self.to_json())
        return target

    @classmethod
    def load(cls, path: str | Path) -> tuple[ResultEvidence, bytes]:
        """Read an evidence file; return it and the keccak256 of the file's bytes."""
        try:
            raw = Path(path).read_bytes()
        except FileNotFoundError:
            raise InputError(f"evidence file {path} does not exist") from None
        try:
            record = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InputError(f"evidence file {path} is not JSON: {exc}") from exc
        return cls.from_dict(record, source=str(path)), keccak(raw)

    @classmethod
    def from_dict(cls, record: Any, source: str = "evidence") -> ResultEvidence:
        if not isinstance(record, dict) or record.get("format") != EVIDENCE_FORMAT:
            found = record.get("format") if isinstance(record, dict) else type(record).__name__
            raise InputError(f"{source} is not result evidence: format is {found!r}, expected {EVIDENCE_FORMAT!r}")
        try:
            chain_id, job_id = int(record["chain_id"]), int(record["job_id"])
            jobs_contract, outputs, entries = record["jobs_contract"], record["outputs"], record["results"]
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"{source} lacks or garbles the field {exc}; see offchain/programs/commitments.py "
                             "for the format") from None
        if not is_address(jobs_contract):
            raise InputError(f"{source}: jobs_contract {jobs_contract!r} is not an address")
        if not isinstance(outputs, list) or not all(isinstance(name, str) for name in outputs):
            raise InputError(f"{source}: outputs must be a list of output names, got {outputs!r}")
        if not isinstance(entries, list) or not entries:
            raise InputError(f"{source}: results must be a non-empty list, one entry per compute node")
        results = []
        for position, entry in enumerate(entries):
            where = f"{source}: results[{position}]"
            try:
                node_index, node = int(entry["node_index"]), entry["node"]
                nonce_text, payload_text = entry["nonce"], entry["payload"]
            except (KeyError, TypeError, ValueError) as exc:
                raise InputError(f"{where} lacks or garbles {exc}") from None
            if not is_address(node):
                raise InputError(f"{where}: node {node!r} is not an address")
            try:
                nonce = bytes.fromhex(str(nonce_text).removeprefix("0x"))
            except ValueError:
                raise InputError(f"{where}: nonce {nonce_text!r} is not hex") from None
            if len(nonce) != NONCE_BYTES:
                raise InputError(f"{where}: nonce is {len(nonce)} bytes; a result nonce is {NONCE_BYTES}")
            try:
                arrays = decode_arrays(base64.b64decode(payload_text, validate=True))
            except (binascii.Error, ValueError, TypeError) as exc:
                raise InputError(f"{where}: payload is not base64 of an array blob: {exc}") from exc
            results.append(NodeResult(node_index, to_checksum_address(node), nonce, tuple(arrays)))
        indexes = [r.node_index for r in results]
        if sorted(indexes) != list(range(len(results))):
            raise InputError(f"{source}: node indexes {indexes} must be 0..{len(results) - 1}, once each")
        return cls(chain_id, to_checksum_address(jobs_contract), job_id, tuple(outputs),
                   tuple(sorted(results, key=lambda r: r.node_index)))
