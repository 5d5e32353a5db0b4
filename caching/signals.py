"""Signal adapters: each one hands the event to caching.invalidation."""

from django.db.models import signals

from caching import invalidation


def _init(sender, instance, **kwargs):
    invalidation.remember(instance)


def _pre_save(sender, instance, raw, using, **kwargs):
    invalidation.before_save(instance, using)


def _post_save(sender, instance, created, raw, using, **kwargs):
    invalidation.saved(instance, created, using)


def _post_delete(sender, instance, using, **kwargs):
    invalidation.deleted(instance, using)


def connect(model) -> None:
    uid = f"caching.{model._meta.label_lower}"
    signals.post_init.connect(_init, sender=model, dispatch_uid=f"{uid}.init")
    signals.pre_save.connect(_pre_save, sender=model, dispatch_uid=f"{uid}.pre_save")
    signals.post_save.connect(_post_save, sender=model, dispatch_uid=f"{uid}.post_save")
    signals.post_delete.connect(_post_delete, sender=model, dispatch_uid=f"{uid}.post_delete")
