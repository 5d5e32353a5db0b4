"""Where Django looks for the app's models: the outbox's rows (``caching.outbox.models``)."""

from caching.outbox.models import OutboxEntry

__all__ = ["OutboxEntry"]
