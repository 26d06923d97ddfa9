"""Fixed-point encoding of real numbers in Z_2^64.

A real ``v`` is encoded as the integer ``round(v * 2**f)`` in two's complement
mod 2**64, where ``f`` is the number of fractional bits (default 16). So:

* resolution ``2**-f`` (1.5e-5 at f = 16);
* representable range ``|v| < 2**(63 - f)`` (1.4e14 at f = 16);
* a product of two encodings has scale ``2**(2f)`` and must satisfy
  ``|x * y| < 2**(62 - 2f)`` (about 1.07e9 at f = 16) before it is truncated
  back (see :mod:`offchain.mpc.truncation`); this is the binding limit for
  multiplications, dot products and matrix products (bound the sum of the
  products, not each term).

Encoding refuses values outside the representable range with
``FixedPointOverflow`` rather than wrapping silently.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from offchain.errors import FixedPointOverflow, InputError
from offchain.mpc.ring import RING_BITS, RING_DTYPE, to_signed

DEFAULT_FRACTIONAL_BITS = 16
MIN_FRACTIONAL_BITS = 1
MAX_FRACTIONAL_BITS = 28


@dataclass(frozen=True)
class FixedPoint:
    """A fixed-point format: ``fractional_bits`` bits after the binary point in 64-bit words."""

    fractional_bits: int = DEFAULT_FRACTIONAL_BITS

    def __post_init__(self) -> None:
        bits = self.fractional_bits
        if isinstance(bits, bool) or not isinstance(bits, int):
            raise InputError(f"fractional_bits must be an int, got {bits!r}")
        if not MIN_FRACTIONAL_BITS <= bits <= MAX_FRACTIONAL_BITS:
            raise InputError(
                f"fractional_bits={bits} is outside [{MIN_FRACTIONAL_BITS}, {MAX_FRACTIONAL_BITS}]: "
                f"products of two encodings need 2*fractional_bits well below 62 bits"
            )

    @property
    def scale(self) -> int:
        """The integer ``2**fractional_bits`` one unit is encoded as."""
        return 1 << self.fractional_bits

    @property
    def resolution(self) -> float:
        """The smallest positive representable value, ``2**-fractional_bits``."""
        return 2.0**-self.fractional_bits

    @property
    def max_magnitude(self) -> float:
        """Values must satisfy ``|v| < max_magnitude`` to be encoded."""
        return 2.0 ** (RING_BITS - 1 - self.fractional_bits)

    @property
    def max_product_magnitude(self) -> float:
        """Products (and sums of products) must satisfy ``|x*y| < max_product_magnitude``."""
        return 2.0 ** (RING_BITS - 2 - 2 * self.fractional_bits)

    def encode(self, values: object) -> np.ndarray:
        """Return ``round(values * 2**f)`` as uint64 ring elements.

        Refuses NaN and infinities with ``InputError`` and values with
        ``|v| >= 2**(63 - f)`` with ``FixedPointOverflow``.
        """
        return encode(values, self.fractional_bits)

    def decode(self, ring_values: np.ndarray) -> np.ndarray:
        """Return ring elements read as signed fixed point, as float64."""
        return decode(ring_values, self.fractional_bits)


def encode(values: object, fractional_bits: int = DEFAULT_FRACTIONAL_BITS) -> np.ndarray:
    """Return ``round(values * 2**fractional_bits)`` mod 2**64 as a uint64 array.

    Requires finite values with ``|v| < 2**(63 - fractional_bits)``.
    """
    FixedPoint(fractional_bits)  # validates the format
    array = np.asarray(values)
    if array.dtype.kind not in "biuf":
        raise InputError(f"fixed-point values must be real numbers, got dtype {array.dtype}")
    if array.dtype.kind in "iu" and array.dtype.itemsize == 8:
        # int64/uint64 may exceed float64's 53-bit mantissa: check in integers first
        limit = 1 << (RING_BITS - 1 - fractional_bits)
        too_large = (
            (array >= limit) if array.dtype.kind == "u" else (array >= limit) | (array <= -limit)
        )
        if np.any(too_large):
            _raise_overflow(array, too_large, fractional_bits)
        return (array.astype(np.int64) << np.int64(fractional_bits)).astype(RING_DTYPE)
    real = array.astype(np.float64)
    finite = np.isfinite(real)
    if not np.all(finite):
        bad = real[~finite].reshape(-1)[:5]
        raise InputError(f"fixed-point values must be finite, got {bad.tolist()}")
    scaled = np.rint(np.ldexp(real, fractional_bits))
    too_large = np.abs(scaled) >= 2.0 ** (RING_BITS - 1)
    if np.any(too_large):
        _raise_overflow(real, too_large, fractional_bits)
    return scaled.astype(np.int64).astype(RING_DTYPE)


def decode(ring_values: np.ndarray, fractional_bits: int = DEFAULT_FRACTIONAL_BITS) -> np.ndarray:
    """Return uint64 ring elements read as signed fixed point with ``fractional_bits``, as float64."""
    signed = to_signed(np.asarray(ring_values, dtype=RING_DTYPE))
    return np.ldexp(signed.astype(np.float64), -fractional_bits)


def _raise_overflow(values: np.ndarray, mask: np.ndarray, fractional_bits: int) -> None:
    offending = np.asarray(values)[mask].reshape(-1)
    shown = ", ".join(repr(float(v)) for v in offending[:5])
    more = f" and {offending.size - 5} more" if offending.size > 5 else ""
    limit = 2.0 ** (RING_BITS - 1 - fractional_bits)
    raise FixedPointOverflow(
        f"{offending.size} value(s) outside the fixed-point range |v| < {limit:g} "
        f"(2**{RING_BITS - 1 - fractional_bits}) for {fractional_bits} fractional bits: {shown}{more}; "
        f"scale the data down or use fewer fractional bits"
    )
