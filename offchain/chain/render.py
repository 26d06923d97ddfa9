"""Human-readable rendering of decoded contract values for messages.

Used by error messages and the ``unseen chain`` commands. A value is rendered
from its ABI type and an optional *format* naming what it means:

==========  ==============================================================
format      rendering
==========  ==============================================================
(none)      by ABI type: checksummed address (with the member name when a
            label is known), ``0x`` hex for bytes, enum member names,
            plain numbers
``time``    a Unix timestamp as ISO 8601 UTC, ``2026-11-20T10:00:00Z``
            (0 renders as ``never``)
``kinds``   a bitmask of job kinds, ``STATISTICS|QUERY``
``kind``    one job kind by number
``level``   one constraint level by number
``credits`` a credit amount with thousands separators
``hash``    a bytes32 as ``0x`` + 64 hex digits
``role``    an AccessControl role id by name (``REGULATOR_ROLE``)
==========  ==============================================================
"""

from __future__ import annotations

import string
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from enum import Enum, IntEnum
from typing import Any

from eth_utils import keccak

from offchain.chain.models import ConstraintLevel, JobKind

AddressLabeler = Callable[[str], str | None]

#: AccessControl role ids of the Unseen contracts (keccak256 of the name; admin is zero).
ROLE_NAMES: dict[bytes, str] = {
    bytes(32): "DEFAULT_ADMIN_ROLE",
    # The contracts derive role ids from "unseen.role.<name>" (Consortium.sol).
    **{keccak(text=f"unseen.role.{name.removesuffix('_ROLE').lower()}"): name
       for name in ("REGULATOR_ROLE", "MEMBER_ROLE", "JOBS_ROLE")},
}


def render_time(value: int) -> str:
    """Render a Unix timestamp (seconds) as ISO 8601 UTC."""
    if value == 0:
        return "never"
    try:
        return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, OSError, ValueError):
        return f"{value} (not a valid time)"


def render_kinds(mask: int) -> str:
    """Render a bitmask over :class:`JobKind` as ``NAME|NAME``."""
    names = [kind.name for kind in JobKind if mask & (1 << kind.value)]
    unknown = mask & ~sum(1 << kind.value for kind in JobKind)
    if unknown:
        names.append(hex(unknown))
    return "|".join(names) if names else "none"


def _enum_name(enum: type[IntEnum], value: int) -> str:
    try:
        return enum(value).name
    except ValueError:
        return f"{value} (unknown {enum.__name__})"


def render_value(value: Any, format_name: str = "", labeler: AddressLabeler | None = None) -> str:
    """Render one decoded value for a message (see the module docstring)."""
    if format_name == "time":
        return render_time(int(value))
    if format_name == "kinds":
        return render_kinds(int(value))
    if format_name == "kind":
        return _enum_name(JobKind, int(value))
    if format_name == "level":
        return _enum_name(ConstraintLevel, int(value))
    if format_name == "role":
        return ROLE_NAMES.get(bytes(value), "0x" + bytes(value).hex())
    if format_name == "credits":
        return f"{int(value):,} credits"
    if isinstance(value, Enum):
        return value.name
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    if isinstance(value, str) and value.startswith("0x") and len(value) == 42:
        label = labeler(value) if labeler else None
        return f"{value} ({label})" if label else value
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(render_value(item, format_name, labeler) for item in value) + "]"
    if isinstance(value, dict):
        inner = ", ".join(f"{k}={render_value(v, '', labeler)}" for k, v in value.items())
        return "{" + inner + "}"
    return str(value)


class _MessageFormatter(string.Formatter):
    def __init__(self, labeler: AddressLabeler | None) -> None:
        self.labeler = labeler

    def format_field(self, value: Any, format_spec: str) -> str:
        return render_value(value, format_spec, self.labeler)


def render_template(template: str, values: Mapping[str, Any], labeler: AddressLabeler | None = None) -> str:
    """Fill ``{name}`` / ``{name:format}`` fields of ``template`` from ``values``."""
    return _MessageFormatter(labeler).vformat(template, (), dict(values))


def template_fields(template: str) -> list[str]:
    """Return the field names used by ``template``."""
    return [name for _, name, _, _ in string.Formatter().parse(template) if name]
