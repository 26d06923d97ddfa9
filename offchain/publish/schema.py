"""Declared argument and output schemas of a published program: parsing, validation, encoding.

A field is declared in the program text as a JSON object::

    {"name": "approved", "type": "bool"}
    {"name": "amount",   "type": "decimal", "scale": 2, "min": "0", "max": "5000"}
    {"name": "visits",   "type": "integer", "min": 0, "max": 365}
    {"name": "reason",   "type": "enum", "values": ["covered", "no_visit", "not_covered"]}
    {"name": "claim_date", "type": "date", "min": "2020-01-01", "max": "2099-12-31"}
    {"name": "treatment", "type": "text", "max_length": 16}        (arguments only)

Bounds are inclusive; decimal bounds are exact (write them as strings or
integers). Every output must be bounded (``min`` and ``max``, or an
enumeration), so the information one run can reveal is bounded too:
:meth:`Field.capacity_bits` is ``log2`` of the number of values the field
can take, and a program's outputs reveal at most the sum of their
capacities per run. Free text is never an output.

An output value *fits* its field when it has the field's kind, lies within
its bounds, has no more decimal places than its scale, and for an
enumeration is one of its values; anything else is refused with
:class:`~offchain.errors.OutputOutsideSchema` and nothing is released.

Outputs travel as one int64 per field (:meth:`Field.encode`): bool 0/1,
integers as they are, decimals as the unscaled integer (value × 10**scale),
enumerations as the index of the value, dates as days since 1970-01-01.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import numpy as np

from offchain.errors import InputError, OutputOutsideSchema
from offchain.publish.values import INTEGER_LIMIT, kind_of

FIELD_TYPES = ("bool", "integer", "decimal", "enum", "date", "text")
OUTPUT_TYPES = ("bool", "integer", "decimal", "enum", "date")
MAX_FIELDS = 32
MAX_ENUM_VALUES = 256
MAX_TEXT_LENGTH = 256
MAX_SCALE = 9
EPOCH = dt.date(1970, 1, 1)
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_KEYS = {
    "bool": {"name", "type", "description"},
    "integer": {"name", "type", "min", "max", "description"},
    "decimal": {"name", "type", "scale", "min", "max", "description"},
    "enum": {"name", "type", "values", "description"},
    "date": {"name", "type", "min", "max", "description"},
    "text": {"name", "type", "max_length", "description"},
}


@dataclass(frozen=True)
class Field:
    """One declared argument or output."""

    name: str
    type: str
    minimum: int | Decimal | dt.date | None = None
    maximum: int | Decimal | dt.date | None = None
    scale: int = 0
    values: tuple[str, ...] = ()
    max_length: int = 0
    description: str = ""

    @property
    def bounded(self) -> bool:
        return self.type in ("bool", "enum") or (
            self.minimum is not None and self.maximum is not None
        )

    def capacity_bits(self) -> float:
        """``log2`` of the number of values the field can take (infinite when unbounded)."""
        if self.type == "bool":
            return 1.0
        if self.type == "enum":
            return math.log2(len(self.values))
        if not self.bounded:
            return math.inf
        if self.type == "date":
            count = (self.maximum - self.minimum).days + 1
        elif self.type == "decimal":
            count = int((self.maximum - self.minimum) * 10**self.scale) + 1
        else:
            count = self.maximum - self.minimum + 1
        return math.log2(count)

    def describe(self) -> str:
        """The field as people read it: ``amount: decimal(2) in [0, 5000]``."""
        if self.type == "enum":
            return f"{self.name}: one of {', '.join(self.values)}"
        if self.type == "decimal":
            kind = f"decimal({self.scale})"
        elif self.type == "text":
            return f"{self.name}: text of at most {self.max_length} characters"
        else:
            kind = self.type
        if self.minimum is not None or self.maximum is not None:
            low = "-inf" if self.minimum is None else str(self.minimum)
            high = "+inf" if self.maximum is None else str(self.maximum)
            return f"{self.name}: {kind} in [{low}, {high}]"
        return f"{self.name}: {kind}"

    # -- validation ----------------------------------------------------------------------

    def check(self, value: Any) -> Any:
        """Return ``value`` if it fits this field; else raise ``ValueError`` saying why."""
        if self.type == "bool":
            if not isinstance(value, bool):
                raise ValueError(f"{self.name} must be true or false, got {kind_of(value)} {value!r:.40}")
            return value
        if self.type == "enum":
            if not isinstance(value, str) or value not in self.values:
                raise ValueError(
                    f"{self.name} must be one of {list(self.values)}, got {value!r:.40}"
                )
            return value
        if self.type == "text":
            if not isinstance(value, str):
                raise ValueError(f"{self.name} must be text, got {kind_of(value)}")
            value = unicodedata.normalize("NFC", value)
            if len(value) > self.max_length:
                raise ValueError(
                    f"{self.name} has {len(value)} characters; at most {self.max_length}"
                )
            return value
        if self.type == "date":
            if not isinstance(value, dt.date) or isinstance(value, dt.datetime):
                raise ValueError(f"{self.name} must be a date, got {kind_of(value)} {value!r:.40}")
        elif self.type == "integer":
            if isinstance(value, bool) or not isinstance(value, int):
                if isinstance(value, Decimal) and value == value.to_integral_value():
                    value = int(value)
                else:
                    raise ValueError(f"{self.name} must be an integer, got {kind_of(value)} {value!r:.40}")
        else:  # decimal
            if isinstance(value, bool) or not isinstance(value, int | Decimal):
                raise ValueError(f"{self.name} must be a number, got {kind_of(value)} {value!r:.40}")
            value = Decimal(value)
            if not value.is_finite():
                raise ValueError(f"{self.name} must be finite, got {value}")
            quantum = Decimal(1).scaleb(-self.scale)
            if value.quantize(quantum) != value:
                raise ValueError(
                    f"{self.name} = {value} has more than {self.scale} decimal places; round it "
                    f"in the program, e.g. round(x, {self.scale})"
                )
            value = value.quantize(quantum)
        if self.minimum is not None and value < self.minimum:
            raise ValueError(f"{self.name} = {value} is below its declared minimum {self.minimum}")
        if self.maximum is not None and value > self.maximum:
            raise ValueError(f"{self.name} = {value} is above its declared maximum {self.maximum}")
        return value

    # -- transport ------------------------------------------------------------------------

    def encode(self, value: Any) -> int:
        """Return a checked output value as one int64 (see the module docstring)."""
        if self.type == "bool":
            return int(value)
        if self.type == "enum":
            return self.values.index(value)
        if self.type == "date":
            return (value - EPOCH).days
        if self.type == "decimal":
            return int(value.scaleb(self.scale))
        return int(value)

    def decode(self, number: int) -> Any:
        """Invert :meth:`encode`; refuse a number the field cannot have produced."""
        number = int(number)
        if self.type == "bool":
            if number not in (0, 1):
                raise InputError(f"output {self.name}: {number} is not a boolean")
            return bool(number)
        if self.type == "enum":
            if not 0 <= number < len(self.values):
                raise InputError(f"output {self.name}: {number} is not one of {len(self.values)} values")
            return self.values[number]
        if self.type == "date":
            value: Any = EPOCH + dt.timedelta(days=number)
        elif self.type == "decimal":
            value = Decimal(number).scaleb(-self.scale)
        else:
            value = number
        if (self.minimum is not None and value < self.minimum) or (
            self.maximum is not None and value > self.maximum
        ):
            raise InputError(f"output {self.name}: {value} lies outside its declared range")
        return value


# ---------------------------------------------------------------------------------------------
# parsing


def _exact(value: Any, what: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise InputError(f"{what} must be an integer or a decimal written as text, got {value!r}")
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise InputError(f"{what}: {value!r} is not a number") from None
    if not number.is_finite():
        raise InputError(f"{what} must be finite, got {value!r}")
    return number


def _date(value: Any, what: str) -> dt.date:
    if not isinstance(value, str):
        raise InputError(f"{what} must be a date written YYYY-MM-DD, got {value!r}")
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise InputError(f"{what}: {value!r} is not a date (YYYY-MM-DD)") from None


def parse_field(raw: Any, role: str) -> Field:
    """Parse one field declaration; ``role`` is ``"argument"`` or ``"output"``."""
    if not isinstance(raw, dict):
        raise InputError(f"each {role} is an object like {{\"name\": ..., \"type\": ...}}, got {raw!r}")
    name, field_type = raw.get("name"), raw.get("type")
    if not isinstance(name, str) or not _NAME.match(name):
        raise InputError(
            f"{role} name {name!r} must be lower-case letters, digits and underscores, "
            "starting with a letter"
        )
    allowed = OUTPUT_TYPES if role == "output" else FIELD_TYPES
    if field_type not in allowed:
        raise InputError(f"{role} {name!r}: type must be one of {', '.join(allowed)}, got {field_type!r}")
    unknown = sorted(set(raw) - _KEYS[field_type])
    if unknown:
        raise InputError(
            f"{role} {name!r} ({field_type}): unknown keys {unknown}; allowed: "
            f"{', '.join(sorted(_KEYS[field_type]))}"
        )
    description = raw.get("description", "")
    if not isinstance(description, str) or len(description) > 200:
        raise InputError(f"{role} {name!r}: description must be text of at most 200 characters")
    what = f"{role} {name!r}"
    minimum = maximum = None
    scale, values, max_length = 0, (), 0
    if field_type == "enum":
        listed = raw.get("values")
        if (not isinstance(listed, list) or not 2 <= len(listed) <= MAX_ENUM_VALUES
                or not all(isinstance(v, str) and 0 < len(v) <= 64 for v in listed)
                or len(set(listed)) != len(listed)):
            raise InputError(
                f"{what}: values must be 2 to {MAX_ENUM_VALUES} distinct texts of 1 to 64 characters"
            )
        values = tuple(listed)
    elif field_type == "text":
        max_length = raw.get("max_length")
        if isinstance(max_length, bool) or not isinstance(max_length, int) or not 1 <= max_length <= MAX_TEXT_LENGTH:
            raise InputError(f"{what}: max_length must be an integer in 1..{MAX_TEXT_LENGTH}")
    elif field_type == "date":
        minimum = _date(raw["min"], f"{what} min") if "min" in raw else None
        maximum = _date(raw["max"], f"{what} max") if "max" in raw else None
    elif field_type in ("integer", "decimal"):
        if field_type == "decimal":
            scale = raw.get("scale")
            if isinstance(scale, bool) or not isinstance(scale, int) or not 0 <= scale <= MAX_SCALE:
                raise InputError(f"{what}: scale (decimal places) must be an integer in 0..{MAX_SCALE}")
        bounds = []
        for key in ("min", "max"):
            if key not in raw:
                bounds.append(None)
                continue
            number = _exact(raw[key], f"{what} {key}")
            if field_type == "integer":
                if number != number.to_integral_value():
                    raise InputError(f"{what} {key} must be an integer, got {raw[key]!r}")
                bounds.append(int(number))
            else:
                if number.quantize(Decimal(1).scaleb(-scale)) != number:
                    raise InputError(f"{what} {key} {raw[key]!r} has more than {scale} decimal places")
                bounds.append(number)
            if abs(number) * 10**scale >= INTEGER_LIMIT:
                raise InputError(f"{what} {key} {raw[key]!r} does not fit 64 bits at scale {scale}")
        minimum, maximum = bounds
    if minimum is not None and maximum is not None and minimum > maximum:
        raise InputError(f"{what}: min {minimum} is above max {maximum}")
    field = Field(name, field_type, minimum, maximum, scale, values, max_length, description)
    if role == "output" and not field.bounded:
        raise InputError(
            f"{what}: outputs must declare both min and max, so what a run reveals is bounded"
        )
    return field


def parse_fields(raw: Any, role: str, minimum: int = 0) -> tuple[Field, ...]:
    """Parse a list of field declarations with distinct names."""
    if not isinstance(raw, list) or not minimum <= len(raw) <= MAX_FIELDS:
        raise InputError(f"{role}s must be a list of {minimum} to {MAX_FIELDS} fields, got {raw!r:.80}")
    fields = tuple(parse_field(item, role) for item in raw)
    names = [f.name for f in fields]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise InputError(f"{role} names must be distinct; repeated: {repeated}")
    return fields


def check_arguments(fields: Sequence[Field], values: Mapping[str, Any]) -> dict[str, Any]:
    """Validate the run's arguments against their declarations (``InputError`` if they do not fit)."""
    expected = [f.name for f in fields]
    if sorted(values) != sorted(expected):
        raise InputError(f"the program takes arguments {expected}, got {sorted(values)}")
    checked = {}
    for field in fields:
        try:
            checked[field.name] = field.check(values[field.name])
        except ValueError as exc:
            raise InputError(f"argument {exc}") from None
    return checked


def check_outputs(fields: Sequence[Field], values: Mapping[str, Any]) -> dict[str, Any]:
    """Validate a program's outputs; raise :class:`OutputOutsideSchema` on the first misfit."""
    expected = [f.name for f in fields]
    if sorted(values) != sorted(expected):
        raise OutputOutsideSchema(
            f"the program produced outputs {sorted(values)}, its schema declares {expected}"
        )
    checked = {}
    for field in fields:
        try:
            checked[field.name] = field.check(values[field.name])
        except ValueError as exc:
            raise OutputOutsideSchema(
                f"output {exc}; the result is withheld (nothing left the node)"
            ) from None
    return checked


def encode_outputs(fields: Sequence[Field], values: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Return checked outputs as one int64 array of shape (1,) each, in declaration order."""
    return {f.name: np.array([f.encode(values[f.name])], dtype=np.int64) for f in fields}


def decode_outputs(fields: Sequence[Field], arrays: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """Invert :func:`encode_outputs` at the recipient."""
    decoded = {}
    for field in fields:
        if field.name not in arrays:
            raise InputError(f"output {field.name!r} is missing from the result")
        array = np.asarray(arrays[field.name]).reshape(-1)
        if array.shape != (1,):
            raise InputError(f"output {field.name!r} must be one value, got shape {array.shape}")
        decoded[field.name] = field.decode(int(array[0]))
    return decoded
