"""Input by an outside owner and by a compute party; reveal, reveal to one, export; verified mode."""

from __future__ import annotations

import numpy as np
import pytest

from offchain.errors import InputError, ShareMismatch
from offchain.mpc import (
    ArithmeticShare,
    BooleanShare,
    EngineConfig,
    FixedPointShare,
    PerParty,
    SharePayload,
    deal,
    input_from_party,
    receive_input,
    share_public,
)
from offchain.mpc.opening import export, reconstruct
from offchain.net.local import run_local
from tests.mpc.helpers import dealt

VERIFIED = EngineConfig(verified=True)


def _receive_and_reveal(runtime, payload):
    share = receive_input(runtime, payload)
    return type(share).__name__, share.reveal()


@pytest.mark.parametrize(
    "values, kind, share_type",
    [
        (
            np.array([[-5, 0, 7], [2**62, -(2**63), 1]], dtype=np.int64),
            "integer",
            "ArithmeticShare",
        ),
        (np.array([-1.5, 0.0, 3.25, 1e9]), "fixed", "FixedPointShare"),
        (np.array([0, 1, 2**64 - 1], dtype=np.uint64), "boolean", "BooleanShare"),
        (np.zeros((0, 3), dtype=np.int64), "integer", "ArithmeticShare"),
        (np.int64(42), "integer", "ArithmeticShare"),
    ],
)
def test_dealt_values_reveal_to_the_same_values(values, kind, share_type):
    results = run_local(_receive_and_reveal, dealt(values, kind)).results
    for name, revealed in results:
        assert name == share_type
        assert revealed.shape == np.shape(values)
        assert np.array_equal(revealed, np.asarray(values).astype(revealed.dtype))


def test_dealing_sends_one_array_to_two_parties_and_seeds_to_the_third():
    payloads = deal(np.arange(1000))
    sizes = [sum(a.nbytes for a in p.to_message()) for p in payloads]
    assert sizes[1] < 100 < 8000 <= sizes[0] == sizes[2] < 8100
    parsed = [SharePayload.from_message(p.to_message()) for p in payloads]
    assert all(
        np.array_equal(a.components(), b.components())
        for a, b in zip(parsed, payloads, strict=True)
    )


def test_no_single_payload_reveals_the_value():
    values = np.zeros(4096, dtype=np.int64)
    for payload in deal(values):
        components = payload.components()
        # uniformly random components: about half the bits are set, nothing is all zero
        assert 0.45 < np.unpackbits(components.view(np.uint8)).mean() < 0.55


def test_payloads_are_checked_against_the_receiving_party():
    payloads = deal(np.arange(3), kind="fixed", fractional_bits=20)

    def receive(runtime, payload):
        return receive_input(runtime, payload)

    with pytest.raises(InputError, match="dealt to party 1, but this is party 0"):
        run_local(receive, PerParty([payloads[1], payloads[0], payloads[2]]))
    with pytest.raises(InputError, match="deal with fractional_bits=16"):
        run_local(receive, PerParty(payloads))


def _input_by_party(runtime, owner, values, kind):
    share = input_from_party(runtime, owner, values if runtime.party == owner else None, kind=kind)
    return share.reveal()


@pytest.mark.parametrize("owner", [0, 1, 2])
@pytest.mark.parametrize("kind", ["integer", "fixed", "boolean"])
def test_a_compute_party_inputs_its_own_data(owner, kind, rng):
    if kind == "fixed":
        values = rng.normal(0, 1000, (3, 4))
    elif kind == "boolean":
        values = rng.integers(0, 2**63, (3, 4), dtype=np.uint64)
    else:
        values = rng.integers(-(2**63), 2**63 - 1, (3, 4), dtype=np.int64)
    results = run_local(_input_by_party, owner, values, kind).results
    for revealed in results:
        if kind == "fixed":
            assert np.max(np.abs(revealed - values)) <= 2**-17
        else:
            assert np.array_equal(revealed, values.astype(revealed.dtype))


def _input_traffic(runtime):
    input_from_party(runtime, 1, np.arange(1000) if runtime.party == 1 else None)
    return runtime.transport.bytes_sent


def test_compute_party_input_sends_one_array():
    result = run_local(_input_traffic)
    sent_by_owner = result.stats[1].bytes_sent
    assert 8000 <= sent_by_owner < 8100
    assert result.stats[0].bytes_sent == result.stats[2].bytes_sent == 0


def _public(runtime):
    return share_public(runtime, np.array([1.5, -2.0]), kind="fixed").reveal()


def test_public_values_share_without_communication():
    result = run_local(_public)
    assert np.array_equal(result.agreed(), [1.5, -2.0])
    assert all(s.rounds == 1 for s in result.stats)  # only the reveal


def _reveal_to(runtime, payload, target):
    return receive_input(runtime, payload).reveal_to(target)


@pytest.mark.parametrize("target", [0, 1, 2])
@pytest.mark.parametrize("config", [None, VERIFIED])
def test_reveal_to_one_party_only(target, config):
    values = np.array([[1, -2], [3, 4]])
    result = run_local(_reveal_to, dealt(values), target, config=config)
    for party, revealed in enumerate(result.results):
        if party == target:
            assert np.array_equal(revealed, values)
        else:
            assert revealed is None


def _export(runtime, payload):
    share = receive_input(runtime, payload) * 3
    return export(share)


@pytest.mark.parametrize("kind", ["integer", "fixed", "boolean"])
def test_requester_reconstructs_from_three_exported_payloads(kind):
    values = np.array([5, -7, 0]) if kind != "boolean" else np.array([5, 7, 0], dtype=np.uint64)

    def program(runtime, payload):
        share = receive_input(runtime, payload)
        return export(share)

    payloads = run_local(program, dealt(values, kind)).results
    messages = [SharePayload.from_message(p.to_message()) for p in payloads]
    rebuilt = reconstruct(messages[::-1])
    assert np.array_equal(rebuilt, values.astype(rebuilt.dtype))


def _tamper(components: np.ndarray, slots: tuple[int, ...]) -> np.ndarray:
    tampered = components.copy()
    for slot in slots:
        tampered[slot].reshape(-1)[0] += np.uint64(1)
    return tampered


def test_requester_names_a_party_that_tampers_with_both_components():
    payloads = run_local(_export, dealt(np.arange(6))).results
    cheat = payloads[1]
    tampered = _tamper(np.stack((cheat.own, cheat.next)), (0, 1))
    forged = SharePayload(1, cheat.kind, cheat.shape, 0, tampered[0], tampered[1])
    with pytest.raises(ShareMismatch, match="party 1 deviated") as caught:
        reconstruct([payloads[0], forged, payloads[2]])
    assert caught.value.suspect == 1
    assert "component x1 differs" in str(caught.value) and "component x2 differs" in str(
        caught.value
    )


def test_requester_names_both_holders_when_one_component_mismatches():
    payloads = run_local(_export, dealt(np.arange(6))).results
    cheat = payloads[2]
    forged = SharePayload(
        2, cheat.kind, cheat.shape, 0, cheat.own, _tamper(np.stack((cheat.next,)), (0,))[0]
    )
    with pytest.raises(ShareMismatch) as caught:
        reconstruct([payloads[0], payloads[1], forged])
    assert caught.value.suspect is None
    assert caught.value.candidates == (0, 2)  # component x0 is held by parties 0 and 2
    assert np.array_equal(
        reconstruct([payloads[0], payloads[1], forged], verify=False), np.arange(6) * 3
    )


def _reveal_with_cheater(runtime, payload, cheater, slots):
    """Party ``cheater`` sends tampered components; each party returns its value or its error."""
    share = receive_input(runtime, payload)
    if runtime.party == cheater:
        share = ArithmeticShare(runtime, _tamper(share.components, slots))
    try:
        return share.reveal()
    except ShareMismatch as error:
        return error


def test_verified_reveal_honest_parties_name_a_cheater_that_tampers_with_both_components():
    results = run_local(
        _reveal_with_cheater, dealt(np.arange(10)), 0, (0, 1), config=VERIFIED
    ).results
    for party in (1, 2):
        assert isinstance(results[party], ShareMismatch)
        assert results[party].suspect == 0


@pytest.mark.parametrize("cheater", [0, 1, 2])
def test_verified_reveal_detects_a_single_tampered_component(cheater):
    results = run_local(
        _reveal_with_cheater, dealt(np.arange(10)), cheater, (1,), config=VERIFIED
    ).results
    honest = [results[p] for p in range(3) if p != cheater]
    assert all(isinstance(r, ShareMismatch) for r in honest)
    for error in honest:
        assert cheater in error.candidates and len(error.candidates) in (1, 2)
    # The honest party holding the tampered component pins the cheater down alone.
    assert any(error.suspect == cheater for error in honest)


def test_semi_honest_reveal_does_not_detect_tampering():
    results = run_local(_reveal_with_cheater, dealt(np.arange(10)), 0, (0,)).results
    assert isinstance(results[1], np.ndarray) and not np.array_equal(results[1], np.arange(10))


def test_share_types_are_exposed():
    assert issubclass(FixedPointShare, ArithmeticShare)
    assert not issubclass(BooleanShare, ArithmeticShare)
