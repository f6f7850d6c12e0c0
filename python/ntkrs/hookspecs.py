"""The pluggy hook specification of ntkrs (project name and entry-point group: ``ntkrs``)."""

from __future__ import annotations

import pluggy

__all__ = ["hookspec", "hookimpl", "ActivationHooks"]

hookspec = pluggy.HookspecMarker("ntkrs")
#: Decorator for plugin hook implementations: ``@ntkrs.hookimpl``.
hookimpl = pluggy.HookimplMarker("ntkrs")


class ActivationHooks:
    """Hooks a plugin may implement."""

    @hookspec
    def ntkrs_activations(self):  # type: ignore[no-untyped-def]
        """Return a list of :class:`ntkrs.ActivationSpec` describing the activations this plugin
        provides. Called once per plugin when the registry is built or the plugin registered."""
