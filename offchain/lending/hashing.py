"""Hashing a batch of queries against lenders' keys without comparing every pair.

The requester places its ``m`` query keys into ``B = ceil(1.27 m) + 1`` bins
by cuckoo hashing with three hash functions (at most one query per bin);
every lender puts each of its keys into *all* of its (up to three distinct)
candidate bins and pads every bin to a public maximum load ``beta``. A
query then only needs comparing with the ``beta`` items of its own bin: it
sits in one of its candidate bins, and a lender holding the same key has
put it in every candidate bin, exactly once per bin. Cost ``B * beta`` per
lender instead of ``m * R``. (Pinkas, Schneider, Segev, Zohner, "Phasing:
private set intersection using permutation-based hashing", USENIX Security
2015, and the circuit-PSI line that followed, use the same layout.)

**Hash functions** (public, from the program's 128-bit seed): ``h_t(x) =
splitmix64(x ^ s_t) mod B`` for ``t = 0, 1, 2``, with ``s_t`` the first 8
bytes of ``SHA-256(seed || t)``. They need to spread keys, not to be secret.

**Maximum load** ``beta``: the smallest load a bin exceeds with probability
at most ``2**-40`` over all ``B`` bins, from the binomial tail of ``R``
keys each landing in a given bin with probability at most ``3 / B`` (a
union bound; ``R`` is the dataset's registered row count, public). A
lender whose bins overflow anyway refuses the job (the requester resubmits
with a new seed); with this bound that happens less than once in 2**40 jobs.

**Cuckoo failure.** The requester checks insertion when it writes the
program text and draws another seed if it fails
(:func:`choose_seed`). The seed on chain therefore carries at most the
information "insertion succeeded for this seed", which fails with small
probability for the sizes used here; the seed is otherwise independent of
the queries.
"""

from __future__ import annotations

import hashlib
import math
import os
import re

import numpy as np

from offchain.errors import InputError

HASH_FUNCTIONS = 3
BIN_FACTOR = 1.27
LOAD_FAILURE_BITS = 40
_SEED = re.compile(r"^[0-9a-f]{32}$")
_MIX_1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX_2 = np.uint64(0x94D049BB133111EB)


def check_seed(seed: str) -> str:
    """Return ``seed`` if it is 32 lowercase hex digits (128 bits), else raise ``InputError``."""
    if not isinstance(seed, str) or not _SEED.match(seed):
        raise InputError(f"seed must be 32 lowercase hex digits, got {seed!r}")
    return seed


def new_seed() -> str:
    """Return a fresh random 128-bit seed as hex."""
    return os.urandom(16).hex()


def bin_count(batch_size: int) -> int:
    """Return ``B``, the number of cuckoo bins for batches of up to ``batch_size`` queries."""
    return math.ceil(BIN_FACTOR * batch_size) + 1


def _salts(seed: str) -> np.ndarray:
    check_seed(seed)
    return np.array(
        [
            int.from_bytes(hashlib.sha256(bytes.fromhex(seed) + bytes([t])).digest()[:8], "big")
            for t in range(HASH_FUNCTIONS)
        ],
        dtype=np.uint64,
    )


def candidate_bins(keys: np.ndarray, seed: str, bins: int) -> np.ndarray:
    """Return the ``(3, len(keys))`` candidate bins ``h_t(key)`` of uint64 ``keys``."""
    mixed = np.bitwise_xor(np.asarray(keys, dtype=np.uint64)[None, :], _salts(seed)[:, None])
    # splitmix64's finaliser: every input bit affects every output bit
    mixed ^= mixed >> np.uint64(30)
    mixed *= _MIX_1
    mixed ^= mixed >> np.uint64(27)
    mixed *= _MIX_2
    mixed ^= mixed >> np.uint64(31)
    return (mixed % np.uint64(bins)).astype(np.int64)


def cuckoo_place(keys: np.ndarray, seed: str, bins: int) -> np.ndarray | None:
    """Return the bin of each key (distinct keys, one per bin), or None if insertion fails.

    Deterministic for a given seed and key set: keys are inserted in
    increasing order and evictions follow a generator seeded from ``seed``.
    """
    keys = np.asarray(keys, dtype=np.uint64)
    if len(np.unique(keys)) != len(keys):
        raise InputError("cuckoo placement needs distinct keys")
    order = np.argsort(keys, kind="stable")
    candidates = candidate_bins(keys, seed, bins)
    occupant = np.full(bins, -1, dtype=np.int64)
    place = np.full(len(keys), -1, dtype=np.int64)
    walk = np.random.default_rng(int.from_bytes(bytes.fromhex(seed), "big"))
    budget = 100 + 50 * len(keys)
    for start in order.tolist():
        item, avoid = start, -1
        while True:
            free = [b for b in candidates[:, item].tolist() if occupant[b] < 0]
            if free:
                occupant[free[0]] = item
                place[item] = free[0]
                break
            budget -= 1
            if budget < 0:
                return None
            choices = [b for b in candidates[:, item].tolist() if b != avoid] or candidates[
                :, item
            ].tolist()
            target = choices[int(walk.integers(len(choices)))]
            evicted = int(occupant[target])
            occupant[target], place[item] = item, target
            place[evicted] = -1
            item, avoid = evicted, target
    return place


def max_load(items: int, bins: int, failure_bits: int = LOAD_FAILURE_BITS) -> int:
    """Return ``beta``: P(some bin gets more than ``beta`` of ``items`` keys) <= 2**-failure_bits.

    Each key lands in a given bin with probability at most ``p = 3 / bins``
    independently of the others; the bound is ``bins * P[Binomial(items, p)
    > beta]``, evaluated exactly in log space. At least 1.
    """
    if items <= 0:
        return 1
    probability = HASH_FUNCTIONS / bins
    if probability >= 1:
        return items
    target = -failure_bits * math.log(2) - math.log(bins)
    log_p, log_q = math.log(probability), math.log1p(-probability)
    log_n = math.lgamma(items + 1)

    def log_tail_above(load: int) -> float:
        """log P[X > load], summing pmf terms down from their (decreasing) start."""
        terms = []
        for i in range(load + 1, items + 1):
            term = (
                log_n
                - math.lgamma(i + 1)
                - math.lgamma(items - i + 1)
                + i * log_p
                + (items - i) * log_q
            )
            terms.append(term)
            if term < terms[0] - 60:
                break
        if not terms:
            return -math.inf
        top = max(terms)
        return top + math.log(sum(math.exp(t - top) for t in terms))

    low, high = max(int(items * probability), 0), items
    while low < high:
        middle = (low + high) // 2
        if log_tail_above(middle) <= target:
            high = middle
        else:
            low = middle + 1
    return max(low, 1)


def simple_hash_table(
    keys: np.ndarray, seed: str, bins: int, load: int, filler: np.ndarray
) -> np.ndarray:
    """Return the ``(bins, load)`` table holding every key in each of its distinct candidate bins.

    Unused places keep the corresponding entries of ``filler`` (``bins *
    load`` values). Raises ``InputError`` if a bin would exceed ``load``
    (probability below ``2**-40`` for the planned load).
    """
    keys = np.asarray(keys, dtype=np.uint64)
    candidates = candidate_bins(keys, seed, bins)
    # a key whose hash functions agree goes into that bin once: it must not match twice
    keep = np.ones_like(candidates, dtype=bool)
    keep[1] = candidates[1] != candidates[0]
    keep[2] = (candidates[2] != candidates[0]) & (candidates[2] != candidates[1])
    bin_of = candidates[keep]
    key_of = np.broadcast_to(keys[None, :], candidates.shape)[keep]
    # narrow integers sort several times faster (radix sort for 16 bits); order within a bin is free
    narrow = bin_of.astype(np.uint16) if bins <= 2**16 else bin_of.astype(np.int32)
    order = np.argsort(narrow, kind="stable" if bins <= 2**16 else "quicksort")
    bin_of, key_of = bin_of[order], key_of[order]
    first = np.concatenate(([0], np.cumsum(np.bincount(bin_of, minlength=bins))[:-1]))
    position = np.arange(bin_of.size) - first[bin_of]
    if position.size and int(position.max()) >= load:
        fullest = int(np.bincount(bin_of).max())
        raise InputError(
            f"a hash bin received {fullest} keys but the plan allows {load}; this happens less than "
            "once in 2**40 jobs — resubmit the job with a new seed"
        )
    table = np.array(filler, dtype=np.uint64).reshape(bins, load)
    table[bin_of, position] = key_of
    return table


def choose_seed(keys: np.ndarray, bins: int, attempts: int = 64) -> tuple[str, np.ndarray]:
    """Draw seeds until the requester's ``keys`` cuckoo-insert; return the seed and the placement."""
    for _ in range(attempts):
        seed = new_seed()
        placement = cuckoo_place(keys, seed, bins)
        if placement is not None:
            return seed, placement
    raise InputError(
        f"could not place {len(keys)} queries into {bins} bins after {attempts} seeds; "
        "raise batch_size to get more bins"
    )
