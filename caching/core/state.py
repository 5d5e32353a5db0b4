"""What the cache layer keeps per process, and the one call that forgets it all, also run when a
test changes ``CACHES`` or ``CACHE_LAYER`` (docs/architecture.md, "Process state")."""

from collections.abc import Callable
from typing import Any

from django.core.signals import setting_changed


class ProcessState:
    def __init__(self) -> None:
        self._forgets: list[Callable[[], None]] = []

    def on_reset(self, forget: Callable[[], None]) -> None:
        """Run ``forget`` at every ``reset()``."""
        self._forgets.append(forget)

    def reset(self) -> None:
        """Forget everything: the next call reads the settings, connects and checks anew. Last
        registered, first forgotten: a module registers when it is imported, after the modules
        it stands on, so the near tier stops its thread while the options, the client and the
        breaker it uses are still the ones it started with."""
        for forget in reversed(self._forgets):
            forget()


STATE = ProcessState()


def _settings_changed(*, setting: str, **kwargs: Any) -> None:
    if setting in ("CACHES", "CACHE_LAYER"):
        STATE.reset()


setting_changed.connect(_settings_changed, dispatch_uid="caching.core.state.reset")
