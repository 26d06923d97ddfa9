"""PSI as engine programs, so the runners (``run_local``, ``run_tls``) can start them.

A runner calls ``program(runtime, *args)`` at each of the three parties; these
top-level (picklable) functions hand the runtime's transport to the PSI
drivers. ``keys`` and role-specific arguments are passed per party with
``offchain.mpc.program.PerParty``.
"""

from __future__ import annotations

from offchain.mpc.runtime import Runtime
from offchain.psi.assisted import assisted_psi_matcher, assisted_psi_owner
from offchain.psi.ecdh import ecdh_psi
from offchain.psi.result import PsiResult, Reveal


def ecdh_program(
    runtime: Runtime,
    keys,
    *,
    members: tuple[int, int] = (0, 1),
    reveal: Reveal = Reveal.INTERSECTION,
    receivers: tuple[int, ...] | None = None,
    workers: int | None = None,
) -> PsiResult | None:
    """Run ECDH-PSI between the two ``members``; the third party takes no part and returns None."""
    me = runtime.party
    if me not in members:
        return None
    peer = members[1] if me == members[0] else members[0]
    return ecdh_psi(
        runtime.transport, peer, keys, reveal=reveal, receivers=receivers, workers=workers
    )


def assisted_program(
    runtime: Runtime,
    keys,
    *,
    owners: tuple[int, int] = (0, 1),
    session_id: bytes,
    reveal: Reveal = Reveal.INTERSECTION,
    receivers: tuple[int, ...] | None = None,
):
    """Run matcher-assisted PSI: the two ``owners`` pass keys, the third party matches."""
    me = runtime.party
    if me in owners:
        peer = owners[1] if me == owners[0] else owners[0]
        matcher = ({0, 1, 2} - set(owners)).pop()
        return assisted_psi_owner(
            runtime.transport,
            keys,
            peer_owner=peer,
            matcher=matcher,
            session_id=session_id,
            reveal=reveal,
            receivers=receivers,
        )
    return assisted_psi_matcher(
        runtime.transport, owners=owners, reveal=reveal, receivers=receivers
    )
