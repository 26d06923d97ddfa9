"""Sharing types: one party's view of a secret-shared array.

* :class:`ArithmeticShare`: ``x = x0 + x1 + x2 mod 2**64`` (integers, two's complement).
* :class:`FixedPointShare`: an arithmetic sharing of ``round(v * 2**f)``; carries ``f``.
* :class:`BooleanShare`: ``x = x0 ^ x1 ^ x2`` on unsigned words (uint64 for
  values; the protocols also use uint8/16/32 words internally).

Each object holds this party's two components as one array of shape
``(2, *shape)``: ``components[0]`` is ``x_i`` (own), ``components[1]`` is
``x_{i+1}`` (next), where ``i`` is the party number.

Components are never modified in place: operations return new shares, and
the components of protocol results are read-only (part of them was sent to
a peer, which may still be reading that memory in-process).

Local operations (no communication) are methods here; anything interactive
is a protocol function in its own module (``arithmetic.mul``,
``binary.and_``, ``compare.less_than``...), which the operators call:
``x * y``, ``x & y``, ``x < y`` work on shares.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from offchain.errors import InputError
from offchain.mpc.fixedpoint import FixedPoint
from offchain.mpc.ring import RING_DTYPE, check_unsigned, to_ring

if TYPE_CHECKING:
    from offchain.mpc.runtime import Runtime


def _index_tuple(index: Any) -> tuple:
    return index if isinstance(index, tuple) else (index,)


def expand_components(components: np.ndarray, ndim: int) -> np.ndarray:
    """View ``(2, *shape)`` components with singleton axes so they broadcast as ``ndim``-D values."""
    missing = ndim - (components.ndim - 1)
    if missing <= 0:
        return components
    return components.reshape((2,) + (1,) * missing + components.shape[1:])


class Share:
    """Common shape handling of all sharing types (indexing, reshaping are local)."""

    __slots__ = ("runtime", "components")
    __array_ufunc__ = None  # make ``ndarray + share`` call ``share.__radd__``

    def __init__(self, runtime: Runtime, components: np.ndarray) -> None:
        if components.ndim < 1 or components.shape[0] != 2:
            raise InputError(
                f"share components must have shape (2, *shape) (own, next), got {components.shape}"
            )
        self.runtime = runtime
        self.components = components

    # -- construction helpers ---------------------------------------------

    def _like(self, components: np.ndarray) -> Any:
        """Return a share of the same type and encoding with other components."""
        return type(self)(self.runtime, components)

    def _check_same_runtime(self, other: Share) -> None:
        if other.runtime is not self.runtime:
            raise InputError(
                "cannot combine shares of different runtimes (parties or sessions): "
                f"{self.runtime!r} and {other.runtime!r}"
            )

    # -- shape --------------------------------------------------------------

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of the shared array."""
        return self.components.shape[1:]

    @property
    def ndim(self) -> int:
        """Number of dimensions of the shared array."""
        return self.components.ndim - 1

    @property
    def size(self) -> int:
        """Number of elements of the shared array."""
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def dtype(self) -> np.dtype:
        """The dtype of the components."""
        return self.components.dtype

    @property
    def own(self) -> np.ndarray:
        """This party's component ``x_i``."""
        return self.components[0, ...]

    @property
    def next(self) -> np.ndarray:
        """This party's copy of the next party's component ``x_{i+1}``."""
        return self.components[1, ...]

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d share")
        return self.shape[0]

    def __getitem__(self, index: Any) -> Any:
        return self._like(self.components[(slice(None), *_index_tuple(index))])

    def reshape(self, *shape: Any) -> Any:
        """Return the share with a new shape (same elements, C order)."""
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return self._like(self.components.reshape((2, *shape)))

    def ravel(self) -> Any:
        """Return the share flattened to one dimension."""
        return self.reshape(-1)

    def transpose(self, *axes: int) -> Any:
        """Return the share with its axes permuted (reversed by default)."""
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        order = tuple(range(self.ndim))[::-1] if not axes else tuple(a % self.ndim for a in axes)
        return self._like(self.components.transpose((0, *(a + 1 for a in order))))

    @property
    def T(self) -> Any:  # noqa: N802 - numpy's name
        """The transposed share."""
        return self.transpose()

    def copy(self) -> Any:
        """Return a share with its own copy of the components."""
        return self._like(self.components.copy())

    def __repr__(self) -> str:
        return f"{type(self).__name__}(party={self.runtime.party}, shape={self.shape}, dtype={self.dtype})"


class ArithmeticShare(Share):
    """A replicated arithmetic sharing of integers mod 2**64.

    Addition, subtraction, negation and operations with public integers are
    local; ``*`` with a share is :func:`offchain.mpc.arithmetic.mul` (one
    round), ``@`` is :func:`offchain.mpc.arithmetic.matmul` (one round).
    Comparisons read values as signed and need ``|x - y| < 2**63``.
    """

    __slots__ = ()

    def __init__(self, runtime: Runtime, components: np.ndarray) -> None:
        if components.dtype != RING_DTYPE:
            raise InputError(f"arithmetic share components must be uint64, got {components.dtype}")
        super().__init__(runtime, components)

    # -- public operands ------------------------------------------------------

    def _public(self, value: object) -> np.ndarray:
        """Return a public operand as ring elements in this share's encoding."""
        return to_ring(value)

    def _add_public(self, public: np.ndarray) -> Any:
        shape = np.broadcast_shapes(self.shape, public.shape)
        components = np.array(
            np.broadcast_to(expand_components(self.components, len(shape)), (2, *shape))
        )
        slot = self.runtime.public_slot
        if slot is not None:
            components[slot] += public
        return self._like(components)

    # -- local arithmetic -------------------------------------------------------

    def _combine(self, other: ArithmeticShare, subtract: bool) -> Any:
        self._check_same_runtime(other)
        ndim = max(self.ndim, other.ndim)
        left, right = (
            expand_components(self.components, ndim),
            expand_components(other.components, ndim),
        )
        components = np.subtract(left, right) if subtract else np.add(left, right)
        return self._like(components)

    def __add__(self, other: object) -> Any:
        if isinstance(other, ArithmeticShare):
            return self._align(other)._combine(other._align(self), subtract=False)
        if isinstance(other, Share):
            return NotImplemented
        return self._add_public(self._public(other))

    __radd__ = __add__

    def __sub__(self, other: object) -> Any:
        if isinstance(other, ArithmeticShare):
            return self._align(other)._combine(other._align(self), subtract=True)
        if isinstance(other, Share):
            return NotImplemented
        return self._add_public(np.negative(self._public(other)))

    def __rsub__(self, other: object) -> Any:
        return (-self)._add_public(self._public(other))

    def __neg__(self) -> Any:
        return self._like(np.negative(self.components))

    def _align(self, other: ArithmeticShare) -> ArithmeticShare:
        """Promote an integer share to fixed point when combined with a fixed-point one."""
        if isinstance(other, FixedPointShare) and not isinstance(self, FixedPointShare):
            return self.to_fixed(other.fractional_bits)
        return self

    def mul_public(self, value: object) -> Any:
        """Return ``x * c`` for public ``c``: local for integers; fixed point also takes reals."""
        from offchain.mpc import arithmetic

        return arithmetic.mul_public(self, value)

    def __mul__(self, other: object) -> Any:
        from offchain.mpc import arithmetic

        if isinstance(other, Share):
            return arithmetic.mul(self, other)
        return arithmetic.mul_public(self, other)

    __rmul__ = __mul__

    def __matmul__(self, other: object) -> Any:
        from offchain.mpc import arithmetic

        return arithmetic.matmul(self, other)

    def __rmatmul__(self, other: object) -> Any:
        from offchain.mpc import arithmetic

        return arithmetic.matmul(other, self)

    def __lshift__(self, bits: int) -> Any:
        """Return ``x * 2**bits`` (local)."""
        return self._like(np.left_shift(self.components, np.uint64(bits)))

    def sum(self, axis: int | tuple[int, ...] | None = None) -> Any:
        """Return the sum over ``axis`` (all elements by default), mod 2**64 (local)."""
        if axis is None:
            axes: tuple[int, ...] = tuple(range(1, self.ndim + 1))
        else:
            axes = tuple(a % self.ndim + 1 for a in _index_tuple(axis))
        return self._like(np.sum(self.components, axis=axes, dtype=RING_DTYPE))

    def to_fixed(self, fractional_bits: int | None = None) -> FixedPointShare:
        """Return the integers as fixed point (shift left by the fractional bits; local)."""
        bits = self.runtime.fractional_bits if fractional_bits is None else fractional_bits
        return FixedPointShare(self.runtime, np.left_shift(self.components, np.uint64(bits)), bits)

    # -- protocols behind operators -----------------------------------------

    def __lt__(self, other: object) -> ArithmeticShare:
        from offchain.mpc import compare

        return compare.less_than(self, other)

    def __gt__(self, other: object) -> ArithmeticShare:
        from offchain.mpc import compare

        return compare.greater_than(self, other)

    def __le__(self, other: object) -> ArithmeticShare:
        from offchain.mpc import compare

        return compare.less_equal(self, other)

    def __ge__(self, other: object) -> ArithmeticShare:
        from offchain.mpc import compare

        return compare.greater_equal(self, other)

    def equals(self, other: object) -> ArithmeticShare:
        """Return a sharing of 1 where ``x == other`` and 0 elsewhere (``==`` stays identity)."""
        from offchain.mpc import compare

        return compare.equal(self, other)

    def to_boolean(self) -> BooleanShare:
        """Return the bits of ``x`` as a boolean sharing (A2B)."""
        from offchain.mpc import converters

        return converters.arithmetic_to_boolean(self)

    def reveal(self) -> np.ndarray:
        """Open the value to all three parties (int64, or float64 for fixed point)."""
        from offchain.mpc import opening

        return opening.reveal(self)

    def reveal_to(self, party: int) -> np.ndarray | None:
        """Open the value to ``party`` only; the others get None."""
        from offchain.mpc import opening

        return opening.reveal_to(self, party)


class FixedPointShare(ArithmeticShare):
    """An arithmetic sharing of fixed-point reals ``round(v * 2**fractional_bits)``.

    ``+``/``-`` with shares or public reals are local; ``*`` with another
    fixed-point share multiplies and truncates in two rounds
    (:func:`offchain.mpc.truncation.mul_truncate`); ``*`` with a public
    integer or an integer share is exact and needs no truncation; ``*`` with
    a public real encodes it and truncates. Requires ``|x * y| < 2**(62 - 2f)``.
    """

    __slots__ = ("fractional_bits",)

    def __init__(
        self, runtime: Runtime, components: np.ndarray, fractional_bits: int | None = None
    ) -> None:
        super().__init__(runtime, components)
        self.fractional_bits = (
            runtime.fractional_bits if fractional_bits is None else fractional_bits
        )

    def _like(self, components: np.ndarray) -> FixedPointShare:
        return FixedPointShare(self.runtime, components, self.fractional_bits)

    @property
    def format(self) -> FixedPoint:
        """The fixed-point format of this share."""
        return FixedPoint(self.fractional_bits)

    def _public(self, value: object) -> np.ndarray:
        return self.format.encode(value)

    def _combine(self, other: ArithmeticShare, subtract: bool) -> FixedPointShare:
        if isinstance(other, FixedPointShare) and other.fractional_bits != self.fractional_bits:
            raise InputError(
                f"cannot add fixed-point shares with {self.fractional_bits} and "
                f"{other.fractional_bits} fractional bits; rescale one first"
            )
        return super()._combine(other, subtract)

    def __truediv__(self, other: object) -> FixedPointShare:
        from offchain.mpc import division

        return division.divide(self, other)

    def __rtruediv__(self, other: object) -> FixedPointShare:
        from offchain.mpc import division

        return division.divide(other, self)

    def to_fixed(self, fractional_bits: int | None = None) -> FixedPointShare:
        """Return self (already fixed point) when the fractional bits match."""
        if fractional_bits not in (None, self.fractional_bits):
            raise InputError(
                f"share has {self.fractional_bits} fractional bits, not {fractional_bits}; rescaling is not supported"
            )
        return self

    def __repr__(self) -> str:
        return (
            f"FixedPointShare(party={self.runtime.party}, shape={self.shape}, "
            f"fractional_bits={self.fractional_bits})"
        )


class BooleanShare(Share):
    """A replicated XOR sharing of unsigned words (uint64 bit vectors by default).

    XOR, NOT, shifts and AND with public masks are local; ``&`` with a share
    is :func:`offchain.mpc.binary.and_` (one round); ``|`` is built on it.
    """

    __slots__ = ()

    def __init__(self, runtime: Runtime, components: np.ndarray) -> None:
        check_unsigned(components, "boolean share components")
        super().__init__(runtime, components)

    def _public(self, value: object) -> np.ndarray:
        array = np.asarray(value)
        if array.dtype.kind == "b":
            array = array.astype(self.dtype)
        if array.dtype.kind not in "iu":
            raise InputError(f"boolean shares combine with integer masks, got dtype {array.dtype}")
        if array.dtype.kind == "i" and np.any(array < 0):
            raise InputError("boolean masks must be non-negative (bit patterns)")
        return array.astype(self.dtype)

    def _xor_public(self, public: np.ndarray) -> BooleanShare:
        shape = np.broadcast_shapes(self.shape, public.shape)
        components = np.array(
            np.broadcast_to(expand_components(self.components, len(shape)), (2, *shape))
        )
        slot = self.runtime.public_slot
        if slot is not None:
            components[slot] ^= public
        return self._like(components)

    def __xor__(self, other: object) -> BooleanShare:
        if isinstance(other, BooleanShare):
            self._check_same_runtime(other)
            ndim = max(self.ndim, other.ndim)
            return self._like(
                np.bitwise_xor(
                    expand_components(self.components, ndim),
                    expand_components(other.components, ndim),
                )
            )
        if isinstance(other, Share):
            return NotImplemented
        return self._xor_public(self._public(other))

    __rxor__ = __xor__

    def __invert__(self) -> BooleanShare:
        return self._xor_public(np.asarray(np.iinfo(self.dtype).max, dtype=self.dtype))

    def __and__(self, other: object) -> BooleanShare:
        if isinstance(other, BooleanShare):
            from offchain.mpc import binary

            return binary.and_(self, other)
        if isinstance(other, Share):
            return NotImplemented
        public = self._public(other)
        ndim = max(self.ndim, public.ndim)
        return self._like(np.bitwise_and(expand_components(self.components, ndim), public))

    __rand__ = __and__

    def __or__(self, other: object) -> BooleanShare:
        if isinstance(other, BooleanShare):
            from offchain.mpc import binary

            return binary.or_(self, other)
        if isinstance(other, Share):
            return NotImplemented
        public = self._public(other)
        # x | c = (x & ~c) ^ c, local
        return (self & np.bitwise_not(public))._xor_public(public)

    __ror__ = __or__

    def __lshift__(self, bits: int) -> BooleanShare:
        return self._like(np.left_shift(self.components, self.dtype.type(bits)))

    def __rshift__(self, bits: int) -> BooleanShare:
        """Logical right shift (zeros come in), local."""
        return self._like(np.right_shift(self.components, self.dtype.type(bits)))

    def bit(self, index: int) -> BooleanShare:
        """Return bit ``index`` of every word, as 0/1 words of the same dtype (local)."""
        width = self.dtype.itemsize * 8
        if not 0 <= index < width:
            raise InputError(f"bit index {index} outside [0, {width}) for {self.dtype} words")
        return (self >> index) & self.dtype.type(1)

    def to_arithmetic(self) -> ArithmeticShare:
        """Return the uint64 words as an arithmetic sharing (B2A)."""
        from offchain.mpc import converters

        return converters.boolean_to_arithmetic(self)

    def reveal(self) -> np.ndarray:
        """Open the words to all three parties."""
        from offchain.mpc import opening

        return opening.reveal(self)

    def reveal_to(self, party: int) -> np.ndarray | None:
        """Open the words to ``party`` only; the others get None."""
        from offchain.mpc import opening

        return opening.reveal_to(self, party)
