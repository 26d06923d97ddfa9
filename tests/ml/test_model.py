"""Model cards, hashes, sealing at the three parties, and the stores nodes keep shares in."""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest

from offchain.errors import InputError, ModelNotFound, ShareMismatch
from offchain.ml.model import (
    DirectoryModelStore,
    MemoryModelStore,
    ModelCard,
    ModelShares,
    component_digest,
    seal_model,
)
from offchain.mpc import receive_input
from offchain.mpc.opening import reconstruct
from offchain.net.local import run_local
from tests.ml.helpers import dealt

DESCRIPTOR = {"program": "logreg", "format": 1, "features": [{"column": "income", "scale": 0.001}]}


def _seal(runtime, weights, means, tamper_party=None):
    arrays = {"parameters": receive_input(runtime, weights), "means": receive_input(runtime, means)}
    if runtime.party == tamper_party:
        arrays["parameters"].components[1, 0] += np.uint64(1)
    return seal_model(runtime, DESCRIPTOR, arrays)


def _sealed() -> list[ModelShares]:
    return list(run_local(_seal, dealt([0.5, -1.25, 3.0]), dealt([10.0, 20.0])).results)


def test_every_party_seals_the_same_card_and_hash() -> None:
    shares = _sealed()
    assert len({s.model_hash for s in shares}) == 1
    assert shares[0].card == shares[1].card == shares[2].card
    assert len(shares[0].model_hash) == 64
    # the card's digests cover every component, and the shares reconstruct the model
    payloads = [s.payloads()["parameters"] for s in shares]
    raw = reconstruct(payloads)
    assert np.array_equal(raw / 2**16, [0.5, -1.25, 3.0])


def test_the_hash_depends_on_the_descriptor_and_on_every_component() -> None:
    card = _sealed()[0].card
    again = ModelCard.from_json(card.to_json())
    assert again.model_hash == card.model_hash
    changed = ModelCard({**card.descriptor, "format": 2}, card.digests)
    assert changed.model_hash != card.model_hash
    other = _sealed()[0].card  # same model, fresh random shares
    assert other.descriptor == card.descriptor and other.model_hash != card.model_hash


def test_a_party_sealing_a_different_component_is_caught() -> None:
    with pytest.raises(ShareMismatch, match="component 2 of model array 'parameters' disagree") as caught:
        run_local(_seal, dealt([0.5, 1.0]), dealt([1.0]), 1)
    assert set(caught.value.candidates) == {1, 2}


def test_stores_round_trip_and_check_shares_against_the_card(tmp_path) -> None:
    shares = _sealed()
    directory = DirectoryModelStore(tmp_path / "models")
    memory = MemoryModelStore()
    for share in shares:
        directory.save(share)
        memory.save(share)
    for party, share in enumerate(shares):
        for store in (directory, memory):
            loaded = store.load(share.model_hash, party)
            assert loaded.card == share.card and loaded.party == party
            assert all(np.array_equal(loaded.arrays[n], share.arrays[n]) for n in share.arrays)
    path = tmp_path / "models" / f"{shares[0].model_hash}.party0.npz"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    with pytest.raises(ModelNotFound, match="same order"):
        directory.load("0" * 64, 0)
    with pytest.raises(InputError, match="64 lower-case hex"):
        directory.load("../etc/passwd", 0)


def test_corrupted_stored_shares_are_refused(tmp_path) -> None:
    share = _sealed()[1]
    corrupted = {name: values.copy() for name, values in share.arrays.items()}
    corrupted["means"][0, 1] ^= np.uint64(1)
    with pytest.raises(ShareMismatch, match="does not match the digest"):
        ModelShares(share.card, share.party, corrupted, share.fractional_bits)
    with pytest.raises(InputError, match="not a model share file"):
        ModelShares.from_bytes(b"not a zip file")


def test_component_digests_bind_name_position_and_shape() -> None:
    values = np.arange(6, dtype=np.uint64)
    base = component_digest("w", 0, values)
    assert base != component_digest("w", 1, values)
    assert base != component_digest("b", 0, values)
    assert base != component_digest("w", 0, values.reshape(2, 3))
    assert base == component_digest("w", 0, values.copy())


def _share_for(runtime, payload_shares):
    return payload_shares.share(runtime, "parameters").shape


def test_shares_are_only_usable_by_their_party() -> None:
    shares = _sealed()
    with pytest.raises(InputError, match="same order"):
        run_local(_share_for, shares[0])  # every party tries party 0's shares
