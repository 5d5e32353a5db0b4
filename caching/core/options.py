"""The caching app's options: ``settings.CACHE_LAYER``, whose keys are the fields of ``Options``
in capitals, each with its default and meaning (docs/configuration.md, "CACHE_LAYER")."""

from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from caching.core.state import STATE

LARGEST = 10**9  # any number option: over 31 years in seconds, 11 days in milliseconds


def _option(default: Any, meaning: str, *, minimum: int = 0) -> Any:
    return field(default=default, metadata={"meaning": meaning, "minimum": minimum})


@dataclass(frozen=True)
class Options:
    enabled: bool = _option(
        True, "false: every read from the database, X-Cache: BYPASS (writes still invalidate)"
    )
    key_prefix: str = _option(
        "", "first segment of every key, so deployments can share a Redis; no { or }"
    )
    default_ttl: int = _option(600, "seconds an entry is kept, for namespaces not in TTLS")
    ttls: dict[str, int] = field(
        default_factory=dict, metadata={"meaning": "seconds an entry is kept, by namespace"}
    )
    empty_ttl: int = _option(
        5,
        "seconds a filtered list page that matches nothing is kept (at most its namespace's "
        "TTL; 0: not stored)",
    )
    lease_ms: int = _option(
        2000, "milliseconds a reader that missed may take to load and store (its lease)", minimum=1
    )
    lease_wait_ms: int = _option(
        1000, "milliseconds a reader that finds another's lease waits for its value"
    )
    breaker_failures: int = _option(
        3, "Redis failures in a row that open the circuit breaker", minimum=1
    )
    breaker_cooldown_ms: int = _option(2000, "milliseconds the breaker stays open before a probe")
    outbox_check_after_ms: int = _option(
        1000, "milliseconds without reaching Redis after which a process checks the outbox"
    )
    replica_ack_ms: int = _option(
        100,
        "milliseconds a write's invalidation waits for a replica's acknowledgement where the "
        "primary has one, else it stays in the outbox (keep it below the socket timeout)",
    )
    stale_if_error: int = _option(
        300,
        "seconds an entry is kept past its TTL, served (X-Cache: STALE) only when its reload "
        "fails for want of the database; 0: off",
    )
    early_refresh_beta: float = _option(
        1.0, "XFetch's beta: how early one reader refreshes a hot entry before its TTL; 0: off"
    )
    near_enabled: bool = _option(True, "false: every hit goes to Redis")
    near_max_entries: int = _option(
        10_000, "entries the near cache keeps per process at most (least recently used out first)"
    )
    near_max_bytes: int = _option(64 * 2**20, "bytes the near cache keeps per process at most")
    near_ttl: int = _option(
        300, "seconds a process keeps an entry at most (never longer than its namespace's TTL)"
    )

    def __post_init__(self) -> None:
        for option in fields(self):
            value, low = getattr(self, option.name), option.metadata.get("minimum", 0)
            test, expected = _KINDS[option.type]
            if not test(value, low):
                raise ImproperlyConfigured(
                    f"CACHE_LAYER['{option.name.upper()}'] is {value!r}: expected "
                    + expected.format(low=low, high=f"{LARGEST:,}")
                )
        if set(self.key_prefix) & set("{}"):
            raise ImproperlyConfigured(
                "CACHE_LAYER['KEY_PREFIX'] may not contain { or }: "
                "they would change every key's hash tag"
            )

    def ttl(self, namespace: str, *, empty: bool = False) -> int:
        """Seconds to keep an entry of ``namespace`` (an ``empty`` one: ``EMPTY_TTL`` at most)."""
        ttl = self.ttls.get(namespace, self.default_ttl)
        return min(ttl, self.empty_ttl) if empty else ttl

    @classmethod
    def from_settings(cls, given: Any) -> "Options":
        if not isinstance(given, dict):
            raise ImproperlyConfigured(f"CACHE_LAYER is {given!r}: expected a dict")
        names = {option.name.upper() for option in fields(cls)}
        unknown = sorted(repr(key) for key in given if key not in names)
        if unknown:
            raise ImproperlyConfigured(f"CACHE_LAYER has unknown keys: {', '.join(unknown)}")
        return cls(**{key.lower(): value for key, value in given.items()})


def _count(value: Any, low: int) -> bool:
    return type(value) is int and low <= value <= LARGEST


def _factor(value: Any, low: int) -> bool:
    return type(value) in (int, float) and low <= value <= 100


# A field's type: the test its value must pass (given its minimum), and what the error expects.
_KINDS: dict[Any, tuple[Callable[[Any, int], bool], str]] = {
    bool: (lambda value, _: isinstance(value, bool), "True or False"),
    int: (_count, "a whole number from {low} to {high}"),
    float: (_factor, "a number from {low} to 100"),
    str: (lambda value, _: isinstance(value, str), "a string"),
    dict[str, int]: (
        lambda value, low: (
            isinstance(value, dict)
            and all(isinstance(k, str) and _count(v, low) for k, v in value.items())
        ),
        "seconds ({low} to {high}) by namespace name",
    ),
}


def defaults() -> dict[str, Any]:
    """Each option's default, by its ``CACHE_LAYER`` key."""
    return {name.upper(): value for name, value in asdict(Options()).items()}


class _Current:
    """The options read, once per process (a test may set them without a reset)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.options: Options | None = None


CURRENT = _Current()
STATE.on_reset(CURRENT.reset)


def options() -> Options:
    """The current options, read once per process (again after ``STATE.reset()``)."""
    found = CURRENT.options
    if found is None:
        found = CURRENT.options = Options.from_settings(getattr(settings, "CACHE_LAYER", {}))
    return found
