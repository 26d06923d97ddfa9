"""Private set intersection between consortium members.

Modules, in dependency order:

* ``encoding``  canonical bytes of join keys (shared with the SQL layer)
* ``shuffle``   CSPRNG and seeded permutations
* ``matching``  exact matching of 128-bit tags, row index per common key
* ``curve``     Curve25519 group: RFC 9380 hash, X25519 blinding
* ``pool``      process pool for the curve work
* ``result``    ``PsiResult`` and ``Reveal``
* ``ecdh``      ECDH-PSI between two members (no third party)
* ``tags``      the owners' PRF key agreement and keyed tags
* ``assisted``  matcher-assisted PSI (a compute node matches tags)
* ``shared``    secret-shared membership indicators for hidden joins

docs/PSI.md gives the protocols, what each party learns and when each mode
is allowed.
"""

from offchain.psi.assisted import MatcherView, assisted_psi_matcher, assisted_psi_owner
from offchain.psi.ecdh import ecdh_psi
from offchain.psi.encoding import EncodedKeys, encode_key, encode_keys
from offchain.psi.result import PsiResult, Reveal
from offchain.psi.shared import (
    MembershipSubmission,
    prepare_membership,
    shared_membership,
)
from offchain.psi.tags import TagKey, agree_tag_key

__all__ = [
    "EncodedKeys",
    "MatcherView",
    "MembershipSubmission",
    "PsiResult",
    "Reveal",
    "TagKey",
    "agree_tag_key",
    "assisted_psi_matcher",
    "assisted_psi_owner",
    "ecdh_psi",
    "encode_key",
    "encode_keys",
    "prepare_membership",
    "shared_membership",
]
