"""Exact integer division and limb splitting on shares, against Python integers."""

from __future__ import annotations

import numpy as np
import pytest

from offchain.errors import InputError
from offchain.mpc import PerParty, deal, receive_input
from offchain.net.local import run_local
from offchain.stats.exact import divide_floor, split_limbs


def _divide(runtime, x_payload, d_payload, widths, bounds, radix_bits):
    quotient, remainder = divide_floor(
        receive_input(runtime, x_payload),
        receive_input(runtime, d_payload),
        widths,
        bounds,
        radix_bits,
    )
    return quotient.reveal(), remainder.reveal()


def run_division(x, d, widths, bounds, radix_bits=8):
    run = run_local(
        _divide,
        PerParty(deal(np.array(x, dtype=np.uint64))),
        PerParty(deal(np.array(d, dtype=np.int64))),
        widths,
        bounds,
        radix_bits,
    )
    quotient, remainder = run.results[0]
    return [int(q) for q in quotient.astype(np.uint64)], [int(r) for r in remainder], run


@pytest.mark.parametrize("radix_bits", [1, 3, 8])
def test_floor_division_is_exact_at_the_edges_of_its_contract(radix_bits: int) -> None:
    rng = np.random.default_rng(radix_bits)
    cases = [
        (0, 1, 1, 1),  # nothing to divide
        (1, 1, 1, 1),
        (2**31 - 1, 1, 31, 2**32),  # quotient uses every bit
        (2**40 * 3 + 2, 3, 42, 2**21),
        (7 * (2**33 - 1) + 6, 7, 33, 2**30),  # remainder d - 1
        ((2**22) * (2**41 - 1), 2**22, 41, 2**22),  # divisor * 2**bits == 2**63 exactly
    ]
    for _ in range(20):
        bits = int(rng.integers(1, 40))
        bound = 2 ** int(rng.integers(1, 63 - bits + 1))
        d = int(rng.integers(1, bound + 1))
        q = int(rng.integers(0, 2**bits))
        cases.append((q * d + int(rng.integers(0, d)), d, bits, bound))
    x, d, widths, bounds = (list(column) for column in zip(*cases, strict=True))
    quotients, remainders, run = run_division(x, d, widths, bounds, radix_bits)
    assert quotients == [a // b for a, b in zip(x, d, strict=True)]
    assert remainders == [a % b for a, b in zip(x, d, strict=True)]
    steps = -(-max(widths) // radix_bits)
    assert run.stats[0].rounds == 11 * steps + 2  # and one round per reveal


def test_contracts_are_refused_before_any_round() -> None:
    with pytest.raises(InputError, match="exceeds 2\\*\\*63"):
        run_division([5], [1], [40], [2**24])
    with pytest.raises(InputError, match="radix_bits"):
        run_division([5], [1], [3], [1], radix_bits=13)
    with pytest.raises(InputError, match="as many divisors"):
        run_division([5, 6], [1, 1], [3], [1, 1])


def _limbs(runtime, payload, low_bits):
    high, low = split_limbs(receive_input(runtime, payload), low_bits)
    return high.reveal(), low.reveal()


def test_limbs_recombine_exactly_and_stay_small() -> None:
    rng = np.random.default_rng(9)
    values = np.concatenate([rng.integers(-(2**61), 2**61, 500), [0, 1, -1, 2**61 - 1]]).astype(
        np.int64
    )
    high, low = run_local(_limbs, PerParty(deal(values)), 30).results[0]
    assert [int(h) * 2**30 + int(lo) for h, lo in zip(high, low, strict=True)] == values.tolist()
    assert np.all(np.abs(low) < 2**30)
    assert np.all((high == values >> 30) | (high == (values >> 30) + 1))
