"""The exception hierarchy of ntkrs.

Every exception raised on purpose by ntkrs derives from :class:`NtkrsError` *and* from the
builtin exception a Python user would expect, so both ``except ntkrs.NtkrsError`` and
``except ValueError`` (say) work:

==========================  =======================  ===========================================
class                        also a                   raised when
==========================  =======================  ===========================================
``InvalidInputError``        ``ValueError``           an argument is outside its domain
``NonFiniteError``           ``ValueError``           data or a function value is NaN or infinite
``DomainError``              ``ValueError``           the configuration is mathematically
                                                      impossible (unit variance unreachable,
                                                      NTK of the step function, ...)
``UnsupportedError``         ``ValueError``           the activation cannot provide what was
                                                      asked (``q != 1`` with coefficients only)
``InputTypeError``           ``TypeError``            an argument has the wrong type
``UnknownActivationError``   ``KeyError``             no activation of that name is registered
``PluginError``              ``RuntimeError``         a plugin raised, returned NaN, a wrong
                                                      shape or a duplicate name
``ConvergenceError``         ``RuntimeError``         an iterative method did not converge
``TooLargeError``            ``MemoryError``          a result would not fit in memory
==========================  =======================  ===========================================
"""

from __future__ import annotations

__all__ = [
    "NtkrsError",
    "InvalidInputError",
    "NonFiniteError",
    "DomainError",
    "UnsupportedError",
    "InputTypeError",
    "UnknownActivationError",
    "PluginError",
    "ConvergenceError",
    "TooLargeError",
]


class NtkrsError(Exception):
    """Base class of every error ntkrs raises on purpose."""


class InvalidInputError(NtkrsError, ValueError):
    """An argument has an invalid value (negative variance, degree < 0, ...)."""


class NonFiniteError(InvalidInputError):
    """Input data, or values returned by an activation, contain NaN or infinity."""


class DomainError(InvalidInputError):
    """The requested quantity does not exist for this configuration.

    Examples: unit variance is impossible with the given ``bias_var``; the NTK of the step
    function (its derivative is a Dirac delta, so ``E[phi'(Z)^2]`` is infinite).
    """


class UnsupportedError(InvalidInputError):
    """The activation cannot provide what was asked, e.g. ``q != 1`` for an activation that
    is known only through a fixed list of Hermite coefficients."""


class InputTypeError(NtkrsError, TypeError):
    """An argument has the wrong type (e.g. a string where an array was expected)."""


class UnknownActivationError(NtkrsError, KeyError):
    """No activation of this name is registered. The message lists close matches."""

    def __str__(self) -> str:  # KeyError would show the repr of the message
        return str(self.args[0]) if self.args else ""


class PluginError(NtkrsError, RuntimeError):
    """A plugin misbehaved: it raised, returned NaN/inf, a wrong shape, an invalid spec or a
    name that is already taken. The message names the plugin; the rest of the registry keeps
    working."""

    def __init__(self, message: str, *, plugin: str | None = None) -> None:
        super().__init__(message)
        self.plugin = plugin


class ConvergenceError(NtkrsError, RuntimeError):
    """An iterative method stopped before converging.

    ``values`` holds the eigenvalues (or other results) that did converge, if any.
    """

    def __init__(self, message: str, values: object = None) -> None:
        super().__init__(message)
        self.values = values


class TooLargeError(NtkrsError, MemoryError):
    """The result would not fit in memory; the message suggests alternatives."""
