"""Checking the share payloads a node receives against the job's plan.

The byte forms of what nodes store, send and commit to (array blobs, share
payloads as arrays, input and result commitments) are defined once, in
:mod:`offchain.programs.commitments`, shared with the requester SDK and the
audit; this module only checks that delivered payloads fit the plan.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from offchain.errors import InputError
from offchain.mpc.sharing import SharePayload
from offchain.programs.base import SharedArray


def check_payloads(payloads: Mapping[str, SharePayload], expected: Sequence[SharedArray],
                   party: int, source: str) -> None:
    """Refuse payloads that do not fit the plan: names, party, kind and fixed lengths."""
    names = [spec.name for spec in expected]
    if sorted(payloads) != sorted(names):
        raise InputError(f"{source} sent arrays {sorted(payloads)}; the plan expects {sorted(names)}")
    for spec in expected:
        payload = payloads[spec.name]
        if payload.party != party:
            raise InputError(f"{source} sent {spec.name!r} dealt to party {payload.party}; this is party {party}")
        if payload.kind != spec.kind:
            raise InputError(f"{source} sent {spec.name!r} as {payload.kind}; the plan says {spec.kind}")
        if spec.length is not None and tuple(payload.shape[:1]) != (spec.length,):
            raise InputError(
                f"{source} sent {spec.name!r} with shape {payload.shape}; the plan fixes {spec.length} rows"
            )
