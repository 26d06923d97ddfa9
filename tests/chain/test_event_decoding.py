"""The event decoder's word-slicing path equals the generic ABI decoder for every event it takes."""

from __future__ import annotations

import random

from eth_abi import encode
from eth_utils import to_checksum_address

from offchain.chain.events import EventDecoder

CONTRACTS = ["Consortium", "DataCatalog", "AccessPolicy", "Jobs", "Billing"]


def _value(kind: str, rng: random.Random, edge: int) -> object:
    if kind.endswith("[]"):
        return [_value(kind[:-2], rng, edge) for _ in range(rng.randrange(4))]
    if kind == "address":
        return to_checksum_address(("0x" + "00" * 20, "0x" + "ff" * 20, "0x" + rng.randbytes(20).hex())[edge])
    if kind == "bool":
        return (False, True, rng.random() < 0.5)[edge]
    if kind == "bytes32":
        return (bytes(32), b"\xff" * 32, rng.randbytes(32))[edge]
    if kind.startswith("uint"):
        bits = int(kind[4:] or 256)
        return (0, 2**bits - 1, rng.getrandbits(bits))[edge]
    bits = int(kind[3:] or 256)
    return (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1, rng.getrandbits(bits) - 2 ** (bits - 1))[edge]


def test_word_slicing_equals_the_generic_decoder_for_every_fast_event() -> None:
    decoder = EventDecoder({name: f"0x{index + 1:040x}" for index, name in enumerate(CONTRACTS)})
    rng = random.Random(7)
    fast = [(key, plan) for key, plan in decoder._plans.items() if plan.fast]
    assert len(fast) >= 20  # the lifecycle events, at least
    for (address, topic), plan in fast:
        for trial in range(30):
            edge = min(trial, 2)  # all zeros, all ones, then random values
            values = [(kind, indexed, _value(kind, rng, edge)) for _, kind, indexed in plan.fields]
            topics = ["0x" + topic.hex()] + ["0x" + encode([k], [v]).hex() for k, i, v in values if i]
            data = encode([k for k, i, _ in values if not i], [v for k, i, v in values if not i])
            log = {"address": address.lower(), "topics": topics, "data": "0x" + data.hex(), "blockNumber": "0x5",
                   "blockHash": "0x" + "ab" * 32, "transactionHash": "0x" + "cd" * 32, "logIndex": "0x2"}
            assert decoder.decode(log) == decoder.decode_generic(log), (plan.name, values)
