"""Trained models: their public card and hash, each compute node's shares, and where nodes keep them.

A model trained by a job stays secret-shared by default: each of the three
compute nodes keeps its two components of every parameter array
(:class:`ModelShares`) and later predict jobs use them where they are.

**Identity.** The public :class:`ModelCard` holds the *descriptor* (what
the model is: program, training program text hash, datasets and
fingerprints, feature columns and scales, options, fixed-point formats —
nothing secret) and, for every parameter array, the SHA-256 digests of its
three replicated components. The **model hash** is
``SHA-256("unseen/ml/model/v1" ‖ 0x00 ‖ canonical JSON of the card)``: the
same at every node, at the requester and in the SDK; it is what owners
approve on chain (``AccessPolicy.approveProgram``) and the ``programHash``
of predict jobs. Binding the component digests means a node cannot later
use different shares under an approved hash (a node's stored shares are
checked against the card whenever they are loaded), and the digests reveal
nothing: each component is uniformly random on its own.

**Sealing** (:func:`seal_model`, one round): every party hashes the two
components it holds and sends both digests to both peers; each component's
two holders must agree (``ShareMismatch`` otherwise), and all three parties
build the same card.

**Storage** (:class:`ModelStore`): ``save(shares)`` and
``load(model_hash, party)``. The node engineer's store decides where;
:class:`DirectoryModelStore` is a ready one (one file per model and party,
written atomically, mode 0600). A model lives at the three compute nodes of
its training job, in the same party positions: predict jobs must name the
same nodes in the same order (the SDK reads them from the training job).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from offchain.errors import InputError, ModelNotFound, ShareMismatch
from offchain.mpc.ring import RING_DTYPE
from offchain.mpc.runtime import Runtime, expect_arrays
from offchain.mpc.shares import ArithmeticShare, FixedPointShare
from offchain.mpc.sharing import SharePayload

MODEL_HASH_DOMAIN = b"unseen/ml/model/v1\x00"
COMPONENT_DOMAIN = b"unseen/ml/component/v1\x00"
FILE_FORMAT = 1
PARTIES = 3


def canonical_json(value: Any) -> str:
    """Sorted keys, no spaces, UTF-8, no NaN: the one text every party hashes."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def component_digest(name: str, component: int, values: np.ndarray) -> str:
    """Return the hex SHA-256 of one replicated component of parameter array ``name``."""
    array = np.ascontiguousarray(values, dtype=RING_DTYPE)
    header = canonical_json({"array": name, "component": component, "shape": list(array.shape)})
    digest = hashlib.sha256(COMPONENT_DOMAIN + header.encode() + b"\x00")
    digest.update(array.astype("<u8", copy=False).tobytes())
    return digest.hexdigest()


@dataclass(frozen=True)
class ModelCard:
    """The public identity of a trained model: descriptor and component digests."""

    descriptor: Mapping[str, Any]
    digests: Mapping[str, tuple[str, str, str]]  # array name -> digests of components 0, 1, 2

    def to_json(self) -> dict[str, Any]:
        return {
            "descriptor": dict(self.descriptor),
            "digests": {name: list(values) for name, values in sorted(self.digests.items())},
        }

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> ModelCard:
        """Parse a card (as in a predict program's text); refuses malformed ones."""
        if not isinstance(document, Mapping) or set(document) != {"descriptor", "digests"}:
            raise InputError('a model card is {"descriptor": {...}, "digests": {...}}')
        descriptor, digests = document["descriptor"], document["digests"]
        if not isinstance(descriptor, Mapping) or not isinstance(digests, Mapping):
            raise InputError("a model card's descriptor and digests must be objects")
        parsed = {}
        for name, values in digests.items():
            if (
                not isinstance(values, (list, tuple))
                or len(values) != PARTIES
                or not all(isinstance(v, str) and len(v) == 64 for v in values)
            ):
                raise InputError(f"model card: array {name!r} needs three hex SHA-256 digests")
            parsed[name] = tuple(values)
        return cls(dict(descriptor), parsed)

    @property
    def model_hash(self) -> str:
        """The model's hex SHA-256 (what owners approve and predict jobs name)."""
        return hashlib.sha256(MODEL_HASH_DOMAIN + canonical_json(self.to_json()).encode()).hexdigest()


@dataclass(frozen=True, eq=False)
class ModelShares:
    """One compute party's components of every parameter array of a model, and the model's card."""

    card: ModelCard
    party: int
    arrays: Mapping[str, np.ndarray]  # name -> (2, *shape) uint64 [own, next]
    fractional_bits: Mapping[str, int]

    def __post_init__(self) -> None:
        if self.party not in range(PARTIES):
            raise InputError(f"party must be 0, 1 or 2, got {self.party}")
        if set(self.arrays) != set(self.card.digests) or set(self.fractional_bits) != set(self.arrays):
            raise InputError(
                f"model shares hold arrays {sorted(self.arrays)}, the card lists {sorted(self.card.digests)}"
            )
        for name, components in self.arrays.items():
            if components.dtype != RING_DTYPE or components.ndim < 1 or components.shape[0] != 2:
                raise InputError(f"array {name!r} must be (2, ...) uint64 components")
            expected = self.card.digests[name]
            for slot, component in ((0, self.party), (1, (self.party + 1) % PARTIES)):
                if component_digest(name, component, components[slot]) != expected[component]:
                    raise ShareMismatch(
                        f"party {self.party}'s component {component} of {name!r} does not match the "
                        f"digest in model {self.card.model_hash}: the stored shares are corrupt or "
                        f"belong to another model",
                        suspect=self.party,
                    )

    @property
    def model_hash(self) -> str:
        return self.card.model_hash

    def share(self, runtime: Runtime, name: str) -> FixedPointShare:
        """Return array ``name`` as a fixed-point share of ``runtime`` (which must be this party)."""
        if runtime.party != self.party:
            raise InputError(
                f"these shares belong to party {self.party}, the runtime is party {runtime.party}: "
                f"predict jobs must use the training job's compute nodes in the same order"
            )
        return FixedPointShare(runtime, self.arrays[name].copy(), self.fractional_bits[name])

    def payloads(self) -> dict[str, SharePayload]:
        """Return each array as an integer ``SharePayload`` for this party (raw ring values)."""
        return {
            name: SharePayload(
                party=self.party, kind="integer", shape=tuple(c.shape[1:]), fractional_bits=0,
                own=np.ascontiguousarray(c[0]), next=np.ascontiguousarray(c[1]),
            )
            for name, c in self.arrays.items()
        }

    def to_bytes(self) -> bytes:
        """Serialise (numpy ``.npz``: a JSON header and the components; no pickles)."""
        header = canonical_json(
            {
                "format": FILE_FORMAT,
                "card": self.card.to_json(),
                "party": self.party,
                "fractional_bits": dict(self.fractional_bits),
            }
        )
        buffer = io.BytesIO()
        np.savez(
            buffer,
            header=np.frombuffer(header.encode(), dtype=np.uint8),
            **{f"array/{name}": components for name, components in self.arrays.items()},
        )
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> ModelShares:
        """Parse :meth:`to_bytes` output and check every component against the card's digests."""
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as archive:
                header = json.loads(archive["header"].tobytes().decode())
                arrays = {
                    key.split("/", 1)[1]: np.array(archive[key]) for key in archive.files if key.startswith("array/")
                }
        except (OSError, ValueError, KeyError, json.JSONDecodeError) as error:
            raise InputError(f"not a model share file: {error}") from error
        if header.get("format") != FILE_FORMAT:
            raise InputError(f"model share file format {header.get('format')!r} is not {FILE_FORMAT}")
        return cls(
            card=ModelCard.from_json(header["card"]),
            party=int(header["party"]),
            arrays=arrays,
            fractional_bits={k: int(v) for k, v in header["fractional_bits"].items()},
        )


def seal_model(
    runtime: Runtime,
    descriptor: Mapping[str, Any],
    arrays: Mapping[str, ArithmeticShare],
) -> ModelShares:
    """Build the model card at every party and return this party's :class:`ModelShares` (1 round).

    Raises ``ShareMismatch`` if the two holders of a component hash it differently.
    """
    names = sorted(arrays)
    if not names:
        raise InputError("a model needs at least one parameter array")
    me, following = runtime.party, runtime.next_party
    mine = {
        name: {
            me: component_digest(name, me, arrays[name].components[0]),
            following: component_digest(name, following, arrays[name].components[1]),
        }
        for name in names
    }
    message = np.frombuffer(
        b"".join(bytes.fromhex(mine[name][c]) for name in names for c in (me, following)),
        dtype=np.uint8,
    ).copy()
    peers = [runtime.next_party, runtime.previous_party]
    received = runtime.exchange({peer: [message] for peer in peers}, peers)
    held: dict[str, dict[int, list[tuple[int, str]]]] = {name: {0: [], 1: [], 2: []} for name in names}
    for name in names:
        for component, digest in mine[name].items():
            held[name][component].append((me, digest))
    for peer in peers:
        (data,) = expect_arrays(received[peer], 1, peer, "model sealing")
        if data.dtype != np.uint8 or data.shape != (64 * len(names),):
            raise ShareMismatch(f"party {peer} sent malformed model digests", suspect=peer)
        raw = data.tobytes()
        for index, name in enumerate(names):
            for slot, component in enumerate((peer, (peer + 1) % PARTIES)):
                start = (2 * index + slot) * 32
                held[name][component].append((peer, raw[start : start + 32].hex()))
    digests = {}
    for name in names:
        chosen = []
        for component in range(PARTIES):
            claims = held[name][component]
            values = {digest for _, digest in claims}
            if len(claims) != 2 or len(values) != 1:
                holders = ", ".join(f"party {p}: {d[:12]}…" for p, d in claims)
                raise ShareMismatch(
                    f"the holders of component {component} of model array {name!r} disagree ({holders})",
                    candidates=tuple(p for p, _ in claims),
                )
            chosen.append(values.pop())
        digests[name] = tuple(chosen)
    card = ModelCard(dict(descriptor), digests)
    return ModelShares(
        card=card,
        party=me,
        arrays={name: np.array(arrays[name].components) for name in names},
        fractional_bits={
            name: arrays[name].fractional_bits if isinstance(arrays[name], FixedPointShare) else 0
            for name in names
        },
    )


class ModelStore(Protocol):
    """Where a compute node keeps its model shares (implemented by the node; see DirectoryModelStore)."""

    def save(self, shares: ModelShares) -> None:
        """Persist ``shares`` under ``(shares.model_hash, shares.party)``."""
        ...

    def load(self, model_hash: str, party: int) -> ModelShares:
        """Return the shares saved for ``model_hash`` and ``party``; raise ``ModelNotFound`` if none."""
        ...


class DirectoryModelStore:
    """Model shares as files ``<model hash>.party<i>.npz`` in one directory (mode 0600)."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)

    def _path(self, model_hash: str, party: int) -> Path:
        if not isinstance(model_hash, str) or len(model_hash) != 64 or any(c not in "0123456789abcdef" for c in model_hash):
            raise InputError(f"a model hash is 64 lower-case hex digits, got {model_hash!r:.80}")
        if party not in range(PARTIES):
            raise InputError(f"party must be 0, 1 or 2, got {party!r}")
        return self.directory / f"{model_hash}.party{party}.npz"

    def save(self, shares: ModelShares) -> None:
        target = self._path(shares.model_hash, shares.party)
        data = shares.to_bytes()
        descriptor, temporary = tempfile.mkstemp(dir=self.directory, prefix=".model-", suffix=".tmp")
        try:
            os.fchmod(descriptor, 0o600)
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def load(self, model_hash: str, party: int) -> ModelShares:
        path = self._path(model_hash, party)
        if not path.exists():
            raise ModelNotFound(
                f"this node keeps no shares of model {model_hash} as party {party} (looked in "
                f"{self.directory}); a model lives at the compute nodes of its training job, in the "
                f"same order"
            )
        shares = ModelShares.from_bytes(path.read_bytes())
        if shares.model_hash != model_hash or shares.party != party:
            raise ShareMismatch(
                f"{path} holds model {shares.model_hash} party {shares.party}, not {model_hash} party {party}",
                suspect=party,
            )
        return shares


class MemoryModelStore:
    """Model shares in a dict (tests, one-process demos)."""

    def __init__(self) -> None:
        self._shares: dict[tuple[str, int], bytes] = {}

    def save(self, shares: ModelShares) -> None:
        self._shares[(shares.model_hash, shares.party)] = shares.to_bytes()

    def load(self, model_hash: str, party: int) -> ModelShares:
        try:
            return ModelShares.from_bytes(self._shares[(model_hash, party)])
        except KeyError:
            raise ModelNotFound(f"no shares of model {model_hash} for party {party}") from None
