"""The MPC engine: 3-party replicated secret sharing over Z_2^64.

Modules in dependency order (each imports only from those above it):

=================  ==============================================================
``transport``      the seam to the network (a ``Transport`` protocol)
``ring``           Z_2^64 on numpy uint64, bit permutations
``fixedpoint``     encoding reals with ``f`` fractional bits
``prg``            AES-128-CTR streams written into numpy arrays
``seeds``          pairwise PRG keys by X25519 + HKDF over the transport
``runtime``        per-party state: transport, PRGs, counters, rounds
``shares``         ``ArithmeticShare``, ``FixedPointShare``, ``BooleanShare``
``sharing``        dealing by an outside owner, input by a compute party
``opening``        reveal, reveal to one party, export/reconstruct, verified mode
``truncation``     probabilistic truncation, fused fixed-point multiplication
``arithmetic``     multiplication, dot and matrix products
``binary``         AND/OR, carry tree, AND tree, Kogge–Stone adder, prefix OR
``converters``     A2B, B2A, bit injection
``compare``        less-than, equality, select, min/max, ReLU, abs, sign
``normalize``      top bit of |x| as a one-hot word, powers of two from it
``division``       reciprocal and division (Goldschmidt)
``exponential``    exp
``sigmoid``        the logistic function (piecewise polynomial)
``roots``          square root
``logarithm``      natural logarithm
``registry``       the protocols by name (explicit table)
``program``        running one program at one party (shared by all runners)
=================  ==============================================================

docs/MPC.md describes every protocol with its rounds, traffic, range and error.

Protocol modules are imported lazily by the share operators, so importing
this package is cheap.
"""

from offchain.mpc.fixedpoint import FixedPoint
from offchain.mpc.program import PartyStats, PerParty, RunResult
from offchain.mpc.runtime import EngineConfig, Runtime, RuntimeStats
from offchain.mpc.shares import ArithmeticShare, BooleanShare, FixedPointShare, Share
from offchain.mpc.sharing import SharePayload, deal, input_from_party, receive_input, share_public

__all__ = [
    "ArithmeticShare",
    "BooleanShare",
    "EngineConfig",
    "FixedPoint",
    "FixedPointShare",
    "PartyStats",
    "PerParty",
    "RunResult",
    "Runtime",
    "RuntimeStats",
    "Share",
    "SharePayload",
    "deal",
    "input_from_party",
    "receive_input",
    "share_public",
]
