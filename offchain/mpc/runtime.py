"""The per-party runtime: party number, transport, PRGs, fixed-point format, counters.

Every share carries the runtime of the party holding it. The runtime offers
the few primitives all protocols are built from:

* ``exchange``: one communication round (send some messages, receive some);
  every party calls it in every round, even with nothing to send, so that
  all three count the same rounds;
* correlated randomness from the pairwise keys (Araki et al., CCS 2016):
  ``zero_sharing`` (three values summing to 0 mod 2**64, each unknown to the
  party that will receive it), ``zero_xor_sharing`` (XOR to 0),
  ``random_components`` (a replicated sharing of a random value nobody
  knows) and ``draw_component`` (a component both its holders draw).

Component convention (replicated sharing): a value ``x = x0 + x1 + x2``
(or ``x0 ^ x1 ^ x2``); party ``i`` holds ``(x_i, x_{i+1})`` (indices mod 3),
stored as an array of shape ``(2, *shape)``: ``[own, next]``. Component
``j`` is therefore held by parties ``j`` (as own) and ``j - 1`` (as next),
and is drawn from the PRG of that pair when it is random. Public constants
are added to component 0 (own slot of party 0, next slot of party 2).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from offchain.errors import InputError, MpcError
from offchain.mpc.fixedpoint import DEFAULT_FRACTIONAL_BITS, FixedPoint
from offchain.mpc.prg import Prg
from offchain.mpc.seeds import PARTIES, PairwiseKeys, agree_pairwise_keys
from offchain.mpc.transport import Transport


@dataclass(frozen=True)
class EngineConfig:
    """Settings all three parties of a session must share.

    ``fractional_bits``: fixed-point precision (see :mod:`offchain.mpc.fixedpoint`).
    ``verified``: reveal and export check that the two holders of every
    output component agree, and raise ``ShareMismatch`` naming the suspect.
    """

    fractional_bits: int = DEFAULT_FRACTIONAL_BITS
    verified: bool = False

    def __post_init__(self) -> None:
        FixedPoint(self.fractional_bits)
        if not isinstance(self.verified, bool):
            raise InputError(f"verified must be True or False, got {self.verified!r}")


@dataclass(frozen=True)
class RuntimeStats:
    """Counters of one party: communication rounds, payload bytes and messages sent."""

    rounds: int = 0
    bytes_sent: int = 0
    messages_sent: int = 0

    def __sub__(self, earlier: RuntimeStats) -> RuntimeStats:
        return RuntimeStats(
            rounds=self.rounds - earlier.rounds,
            bytes_sent=self.bytes_sent - earlier.bytes_sent,
            messages_sent=self.messages_sent - earlier.messages_sent,
        )


class Runtime:
    """Everything one compute party needs to run protocols."""

    def __init__(
        self,
        transport: Transport,
        keys: PairwiseKeys,
        config: EngineConfig | None = None,
        session_id: bytes = b"",
    ) -> None:
        if transport.party not in range(PARTIES):
            raise InputError(
                f"replicated sharing needs parties 0, 1, 2; transport is party {transport.party}"
            )
        if keys.party != transport.party:
            raise InputError(
                f"keys belong to party {keys.party} but the transport is party {transport.party}"
            )
        self.transport = transport
        self.party = transport.party
        self.next_party = (self.party + 1) % PARTIES
        self.previous_party = (self.party + 2) % PARTIES
        self.config = config or EngineConfig()
        self.fixed_point = FixedPoint(self.config.fractional_bits)
        self.session_id = bytes(session_id)
        self.prg_next = Prg(keys.with_next)
        self.prg_previous = Prg(keys.with_previous)
        self.prg_private = Prg.fresh()
        self.rounds = 0
        self._helper_counter = 0

    @classmethod
    def establish(
        cls, transport: Transport, session_id: bytes, config: EngineConfig | None = None
    ) -> Runtime:
        """Agree the pairwise PRG keys over ``transport`` (one round) and return the runtime."""
        keys = agree_pairwise_keys(transport, session_id)
        runtime = cls(transport, keys, config, session_id)
        runtime.rounds = 1
        return runtime

    # -- identity -------------------------------------------------------

    @property
    def verified(self) -> bool:
        """Whether outputs are checked for agreement between the holders of each component."""
        return self.config.verified

    @property
    def fractional_bits(self) -> int:
        """Fractional bits of fixed-point shares created by this runtime."""
        return self.config.fractional_bits

    @property
    def public_slot(self) -> int | None:
        """The slot (0 own, 1 next) where this party holds component 0, or None."""
        if self.party == 0:
            return 0
        if self.party == PARTIES - 1:
            return 1
        return None

    def slot_of_component(self, component: int) -> int | None:
        """The slot (0 own, 1 next) where this party holds ``component``, or None."""
        offset = (component - self.party) % PARTIES
        return offset if offset < 2 else None

    def prg_with(self, peer: int) -> Prg:
        """Return the PRG this party shares with ``peer``."""
        if peer == self.next_party:
            return self.prg_next
        if peer == self.previous_party:
            return self.prg_previous
        raise InputError(f"party {self.party} shares no PRG with party {peer}")

    def take_helper(self) -> int:
        """Return the helper party of the next asymmetric protocol call (round robin).

        All parties call this at the same points, so they agree; rotating the
        role spreads the helper's extra traffic evenly.
        """
        helper = self._helper_counter % PARTIES
        self._helper_counter += 1
        return helper

    # -- communication --------------------------------------------------

    def exchange(
        self,
        sends: Mapping[int, Sequence[np.ndarray]] | None = None,
        receive_from: Sequence[int] = (),
    ) -> dict[int, list[np.ndarray]]:
        """Run one communication round: send ``sends[peer]`` to each peer, then receive.

        Returns the message received from each party in ``receive_from``.
        Counts one round whether or not this party sends anything.
        """
        for peer, arrays in (sends or {}).items():
            self.transport.send(peer, arrays)
        received = {peer: self.transport.recv(peer) for peer in receive_from}
        self.rounds += 1
        return received

    def reshare(self, values: np.ndarray) -> np.ndarray:
        """Send ``values`` to the previous party and return what the next party sent (one round).

        Turns additive 3-out-of-3 sharings (each party's ``z_i``) into
        replicated ones: party i then holds ``(z_i, z_{i+1})``.
        """
        received = self.exchange({self.previous_party: [values]}, [self.next_party])
        (incoming,) = expect_arrays(received[self.next_party], 1, self.next_party, "reshare")
        check_received(incoming, values, self.next_party, "reshare")
        return incoming

    def reshare_many(self, values: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Reshare several additive terms in one message (one round); see :meth:`reshare`."""
        received = self.exchange({self.previous_party: list(values)}, [self.next_party])
        incoming = expect_arrays(received[self.next_party], len(values), self.next_party, "reshare")
        for got, sent in zip(incoming, values, strict=True):
            check_received(got, sent, self.next_party, "reshare")
        return incoming

    def stats(self) -> RuntimeStats:
        """Return the counters so far (subtract two snapshots to measure one operation)."""
        return RuntimeStats(
            rounds=self.rounds,
            bytes_sent=self.transport.bytes_sent,
            messages_sent=self.transport.messages_sent,
        )

    # -- correlated randomness -------------------------------------------

    def zero_sharing(
        self, shape: tuple[int, ...], dtype: np.dtype | type = np.uint64
    ) -> np.ndarray:
        """Return this party's term of a 3-out-of-3 sharing of zero (sum mod 2**k is 0).

        ``alpha_i = F(k_{i,i+1}) - F(k_{i-1,i})``: the party receiving ``z_i``
        (party i - 1) does not know ``k_{i,i+1}``, so ``alpha_i`` masks ``z_i``.
        """
        alpha = self.prg_next.random(shape, dtype)
        np.subtract(alpha, self.prg_previous.random(shape, dtype), out=alpha)
        return alpha

    def zero_xor_sharing(
        self, shape: tuple[int, ...], dtype: np.dtype | type = np.uint64
    ) -> np.ndarray:
        """Return this party's term of a 3-out-of-3 XOR sharing of zero."""
        alpha = self.prg_next.random(shape, dtype)
        np.bitwise_xor(alpha, self.prg_previous.random(shape, dtype), out=alpha)
        return alpha

    def xor_zero_sharing_into(self, term: np.ndarray) -> np.ndarray:
        """XOR this party's term of a 3-out-of-3 XOR sharing of zero into ``term`` (in place).

        The same draws as :meth:`zero_xor_sharing`, without allocating it:
        ``term ^= F(k_{i,i+1}) ^ F(k_{i-1,i})``. ``term`` must be C-contiguous.
        """
        self.prg_next.xor_into(term)
        return self.prg_previous.xor_into(term)

    def add_zero_sharing_into(self, term: np.ndarray) -> np.ndarray:
        """Add this party's term of a 3-out-of-3 sharing of zero into uint64 ``term`` (in place).

        The same draws as :meth:`zero_sharing`: ``term += F(k_{i,i+1}) - F(k_{i-1,i})``.
        """
        self.prg_next.add_into(term)
        return self.prg_previous.add_into(term, subtract=True)

    def random_components(
        self, shape: tuple[int, ...], dtype: np.dtype | type = np.uint64
    ) -> np.ndarray:
        """Return this party's ``[own, next]`` of a replicated sharing of a uniformly random value.

        Component ``j`` comes from the PRG of pair (j - 1, j); no party knows the value.
        """
        out = np.empty((2, *shape), dtype=dtype)
        self.prg_previous.fill(out[0, ...])
        self.prg_next.fill(out[1, ...])
        return out

    def draw_component(
        self, component: int, shape: tuple[int, ...], dtype: np.dtype | type = np.uint64
    ) -> np.ndarray | None:
        """Draw a random value for ``component`` from the PRG of its two holders.

        Returns the array at parties ``component`` and ``component - 1`` (who
        draw the same value) and None at the third party, which draws nothing.
        """
        if self.party == component % PARTIES:
            return self.prg_previous.random(shape, dtype)
        if self.party == (component - 1) % PARTIES:
            return self.prg_next.random(shape, dtype)
        return None

    def __repr__(self) -> str:
        return (
            f"Runtime(party={self.party}, fractional_bits={self.fractional_bits}, "
            f"verified={self.verified}, rounds={self.rounds})"
        )


def new_session_id() -> bytes:
    """Return a fresh random 16-byte session id."""
    return os.urandom(16)


def expect_arrays(message: list[np.ndarray], count: int, peer: int, what: str) -> list[np.ndarray]:
    """Return ``message`` if it holds ``count`` arrays; otherwise raise ``MpcError``."""
    if len(message) != count:
        raise MpcError(
            f"{what}: expected {count} array(s) from party {peer}, got {len(message)}; "
            f"the parties are running different protocols"
        )
    return message


def check_received(incoming: np.ndarray, expected: np.ndarray, peer: int, what: str) -> None:
    """Refuse an array from ``peer`` whose dtype or shape differs from ``expected``'s."""
    if incoming.shape != expected.shape or incoming.dtype != expected.dtype:
        raise MpcError(
            f"{what}: party {peer} sent {incoming.dtype}{list(incoming.shape)}, expected "
            f"{expected.dtype}{list(expected.shape)}; the parties are running different protocols"
        )
