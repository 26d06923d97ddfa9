"""PSI started by the engine's runner, as every job will start it."""

from __future__ import annotations

import functools

from offchain.mpc.program import PerParty
from offchain.net.local import run_local
from offchain.psi.programs import assisted_program, ecdh_program
from offchain.psi.result import Reveal
from tests.psi.cases import check_revealed, set_pairs

FIRST, SECOND = set_pairs()["duplicates"]


def test_ecdh_under_run_local_leaves_the_third_party_out():
    program = functools.partial(ecdh_program, workers=0)
    run = run_local(program, PerParty([FIRST, SECOND, None]), timeout=30)
    first, second, third = run.results
    check_revealed(first, FIRST, SECOND, second)
    check_revealed(second, SECOND, FIRST, first)
    assert third is None


def test_assisted_under_run_local_with_the_matcher_at_party_0():
    program = functools.partial(
        assisted_program, owners=(1, 2), session_id=b"job-7", reveal=Reveal.CARDINALITY
    )
    run = run_local(program, PerParty([None, FIRST, SECOND]), timeout=30)
    view, first, second = run.results
    assert first.cardinality == second.cardinality == view.cardinality == 2
    assert view.sizes == (first.own_size, second.own_size)
