"""The activation registry: one pluggy plugin manager through which the built-in activations
and every third-party plugin register (hook ``ntkrs_activations``).

Installed plugins are discovered through the ``ntkrs`` entry-point group on first use, unless
the environment variable ``NTKRS_DISABLE_PLUGIN_AUTOLOAD=1`` is set. A plugin that fails (raises,
returns a bad spec or a duplicate name) is recorded as a :class:`~ntkrs.PluginError` naming it;
everything else keeps working.
"""

from __future__ import annotations

import difflib
import os
import threading
import warnings
from dataclasses import dataclass
from importlib import metadata
from typing import Any

import pluggy

from . import builtin_activations
from .activation import Activation
from .errors import PluginError, UnknownActivationError
from .hookspecs import ActivationHooks
from .spec import ActivationSpec

__all__ = [
    "activations",
    "activation_info",
    "get_activation",
    "register_plugin",
    "plugin_errors",
    "PluginWarning",
    "ActivationInfo",
]

BUILTIN_PLUGIN = "ntkrs.builtin"
AUTOLOAD_ENV = "NTKRS_DISABLE_PLUGIN_AUTOLOAD"


class PluginWarning(UserWarning):
    """Emitted when an installed plugin is skipped because it is faulty."""


@dataclass(frozen=True)
class ActivationInfo:
    """One registry entry: ``spec`` (the :class:`ActivationSpec`) and ``plugin`` (the name of
    the plugin it came from, ``"ntkrs.builtin"`` for built-ins)."""

    spec: ActivationSpec
    plugin: str


class _Registry:
    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._pm: pluggy.PluginManager | None = None
        self._entries: dict[str, ActivationInfo] = {}
        self._aliases: dict[str, str] = {}
        self._errors: list[PluginError] = []

    # -------------------------------------------------------------- building
    def _ensure(self) -> pluggy.PluginManager:
        with self._lock:
            if self._pm is None:
                pm = pluggy.PluginManager("ntkrs")
                pm.add_hookspecs(ActivationHooks)
                self._pm = pm
                self._add(builtin_activations, BUILTIN_PLUGIN)
                if os.environ.get(AUTOLOAD_ENV, "").strip() not in ("1", "true", "yes"):
                    self._autoload()
            return self._pm

    def _autoload(self) -> None:
        for ep in metadata.entry_points(group="ntkrs"):
            dist = getattr(ep, "dist", None)
            name = getattr(dist, "name", None) or ep.name
            if self._pm is not None and self._pm.has_plugin(name):
                name = f"{name}:{ep.name}"
            try:
                plugin = ep.load()
            except Exception as exc:
                self._record(PluginError(f"plugin {name!r} failed to import: {type(exc).__name__}: {exc}", plugin=name))
                continue
            try:
                self._add(plugin, name)
            except PluginError as err:
                self._record(err)

    def _record(self, err: PluginError) -> None:
        self._errors.append(err)
        warnings.warn(str(err), PluginWarning, stacklevel=4)

    def _add(self, plugin: Any, name: str) -> None:
        """Register ``plugin`` and collect its specs; all-or-nothing per plugin."""
        assert self._pm is not None
        if self._pm.is_registered(plugin) or self._pm.has_plugin(name):
            raise PluginError(f"plugin {name!r} is already registered", plugin=name)
        try:
            self._pm.register(plugin, name=name)
        except Exception as exc:
            raise PluginError(f"plugin {name!r} could not be registered: {exc}", plugin=name) from exc
        try:
            specs = self._collect(plugin, name)
            new_entries: dict[str, ActivationInfo] = {}
            new_aliases: dict[str, str] = {}
            for spec in specs:
                for key in (spec.name, *spec.aliases):
                    owner = self._owner(key)
                    if owner is not None or key in new_entries or key in new_aliases:
                        where = self._entries[owner].plugin if owner is not None else name
                        raise PluginError(
                            f"plugin {name!r} registers activation name {key!r}, which plugin "
                            f"{where!r} already provides; rename it",
                            plugin=name,
                        )
                    if key == spec.name:
                        new_entries[key] = ActivationInfo(spec, name)
                    else:
                        new_aliases[key] = spec.name
        except BaseException:  # incl. SystemExit/KeyboardInterrupt from a hook: leave no trace
            self._pm.unregister(plugin)
            raise
        self._entries.update(new_entries)
        self._aliases.update(new_aliases)

    def _owner(self, key: str) -> str | None:
        if key in self._entries:
            return key
        return self._aliases.get(key)

    def _collect(self, plugin: Any, name: str) -> list[ActivationSpec]:
        assert self._pm is not None
        impls = [i for i in self._pm.hook.ntkrs_activations.get_hookimpls() if i.plugin is plugin]
        specs: list[ActivationSpec] = []
        for impl in impls:
            try:
                result = impl.function()
            except Exception as exc:
                raise PluginError(
                    f"plugin {name!r} raised in ntkrs_activations: {type(exc).__name__}: {exc}", plugin=name
                ) from exc
            if result is None:
                continue
            if isinstance(result, ActivationSpec):
                result = [result]
            if isinstance(result, (str, bytes, dict)):
                raise PluginError(
                    f"plugin {name!r}: ntkrs_activations must return a list of ActivationSpec, "
                    f"got {type(result).__name__}",
                    plugin=name,
                )
            try:
                items = list(result)
            except TypeError:
                raise PluginError(
                    f"plugin {name!r}: ntkrs_activations must return a list of ActivationSpec, "
                    f"got {type(result).__name__}",
                    plugin=name,
                ) from None
            except Exception as exc:  # a generator that raises half-way, a broken iterator
                raise PluginError(
                    f"plugin {name!r} raised in ntkrs_activations: {type(exc).__name__}: {exc}", plugin=name
                ) from exc
            for item in items:
                if not isinstance(item, ActivationSpec):
                    raise PluginError(
                        f"plugin {name!r}: ntkrs_activations returned {type(item).__name__}, "
                        "expected ntkrs.ActivationSpec",
                        plugin=name,
                    )
                specs.append(item)
        return specs

    # -------------------------------------------------------------- queries
    def register(self, plugin: Any, name: str | None) -> list[str]:
        self._ensure()
        with self._lock:
            if name is None:
                name = getattr(plugin, "__name__", None) or type(plugin).__name__
                if self._pm is not None and self._pm.has_plugin(name):
                    name = f"{name}@{id(plugin):x}"
            if not callable(getattr(plugin, "ntkrs_activations", None)):
                raise PluginError(
                    f"plugin {name!r} is a {type(plugin).__name__} with no ntkrs hook, not a plugin: pass "
                    "a module or an object with an @ntkrs.hookimpl-decorated ntkrs_activations()",
                    plugin=name,
                )
            before = set(self._entries)
            try:
                self._add(plugin, name)
            except PluginError:
                raise
            except Exception as exc:  # e.g. an object whose == raises inside pluggy
                raise PluginError(f"plugin {name!r} could not be registered: {type(exc).__name__}: {exc}",
                                  plugin=name) from exc
            if self._pm is not None and not self._pm.get_hookcallers(plugin):
                self._pm.unregister(plugin)
                raise PluginError(
                    f"plugin {name!r} implements no ntkrs hook: decorate its ntkrs_activations() "
                    "with @ntkrs.hookimpl",
                    plugin=name,
                )
            return sorted(set(self._entries) - before)

    def names(self) -> list[str]:
        self._ensure()
        with self._lock:
            return sorted(self._entries)

    def info(self, name: str) -> ActivationInfo:
        self._ensure()
        with self._lock:
            key = self._owner(name)
            if key is None:
                known = sorted([*self._entries, *self._aliases])
                close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
                hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
                raise UnknownActivationError(
                    f"unknown activation {name!r}{hint} (`ntkrs activations` lists all "
                    f"{len(self._entries)} registered names)"
                )
            return self._entries[key]

    def errors(self) -> list[PluginError]:
        self._ensure()
        with self._lock:
            return list(self._errors)


_REGISTRY = _Registry()


def activations() -> list[str]:
    """Names of all registered activations (built-in and plugins), sorted; aliases such as
    ``swish`` are not listed (see :func:`activation_info`). Loads installed plugins on first
    use unless ``NTKRS_DISABLE_PLUGIN_AUTOLOAD=1``."""
    return _REGISTRY.names()


def activation_info(name: str) -> ActivationInfo:
    """The :class:`ActivationSpec` registered under ``name`` (or an alias) and its plugin, as an
    :class:`ActivationInfo` (``.spec``, ``.plugin``: ``"ntkrs.builtin"``, a distribution name
    or the name given to :func:`register_plugin`).

    Raises :class:`~ntkrs.UnknownActivationError` (a ``KeyError``) listing close matches if no
    activation has that name."""
    return _REGISTRY.info(name)


def get_activation(name: Any, **params: Any) -> Activation:
    """The activation ``name`` with parameters bound (defaults for those not given).

    ``name`` may also be an :class:`Activation` (returned as is when no params are given) or a
    string ``"name(param=value, …)"`` as accepted by the command line.

    Raises
    ------
    UnknownActivationError
        (a ``KeyError``) if no activation has that name; the message lists close matches.
    InvalidInputError
        for an unknown parameter or an invalid parameter value.
    """
    if isinstance(name, Activation):
        if not params:
            return name
        return Activation(name.spec, {**name.params, **params}, name.source)
    if not isinstance(name, str):
        from .errors import InputTypeError

        raise InputTypeError(f"activation must be a name or an Activation, got {type(name).__name__}")
    if "(" in name:
        from .parsing import parse_activation

        base, parsed = parse_activation(name)
        return get_activation(base, **{**parsed, **params})
    info = _REGISTRY.info(name.strip())
    return Activation(info.spec, params, info.plugin)


def register_plugin(plugin: Any, name: str | None = None) -> list[str]:
    """Register a pluggy plugin (module or object implementing ``ntkrs_activations``) at run
    time and return the activation names it added.

    Raises :class:`~ntkrs.PluginError` naming the plugin if it raises, returns an invalid spec or
    a name that is already taken; the registry is left as it was.
    """
    return _REGISTRY.register(plugin, name)


def plugin_errors() -> list[PluginError]:
    """Errors (:class:`~ntkrs.PluginError`, each naming its plugin) of installed plugins that
    were skipped while building the registry; empty when every plugin loaded."""
    return _REGISTRY.errors()
