"""The model signal receivers, handing each event to ``capture``, and ``register_model``, which
connects them for that model only (so other models keep Django's fast delete path)."""

from collections.abc import Iterable
from typing import Any

from django.db.models import Model, signals

from caching.core import rules
from caching.invalidation import capture


def _pre_write(sender: type[Model], instance: Model, using: str, **kwargs: Any) -> None:
    capture.before_write(instance, using)


def _post_save(
    sender: type[Model],
    instance: Model,
    created: bool,
    update_fields: Iterable[str] | None,
    using: str,
    **kwargs: Any,
) -> None:
    capture.saved(instance, created, update_fields, using)


def _post_delete(sender: type[Model], instance: Model, using: str, **kwargs: Any) -> None:
    capture.deleted(instance, using)


def register_model(model: type[Model], *, tracked: Iterable[str], changes: rules.Handler) -> None:
    """Declare what writes to ``model`` invalidate and connect the receivers (once per model)."""
    rules.add_model_rules(model, tracked=tracked, changes=changes)
    uid = f"caching.{model._meta.label_lower}"
    signals.pre_save.connect(_pre_write, sender=model, dispatch_uid=f"{uid}.pre_save")
    signals.pre_delete.connect(_pre_write, sender=model, dispatch_uid=f"{uid}.pre_delete")
    signals.post_save.connect(_post_save, sender=model, dispatch_uid=f"{uid}.post_save")
    signals.post_delete.connect(_post_delete, sender=model, dispatch_uid=f"{uid}.post_delete")
