"""Signal adapters: each one hands the event to caching.invalidation."""

from django.db.models import signals

from caching import invalidation


def _pre_write(sender, instance, using, **kwargs):
    invalidation.before_write(instance, using)


def _post_save(sender, instance, created, update_fields, using, **kwargs):
    invalidation.saved(instance, created, update_fields, using)


def _post_delete(sender, instance, using, **kwargs):
    invalidation.deleted(instance, using)


def connect(model) -> None:
    uid = f"caching.{model._meta.label_lower}"
    signals.pre_save.connect(_pre_write, sender=model, dispatch_uid=f"{uid}.pre_save")
    signals.pre_delete.connect(_pre_write, sender=model, dispatch_uid=f"{uid}.pre_delete")
    signals.post_save.connect(_post_save, sender=model, dispatch_uid=f"{uid}.post_save")
    signals.post_delete.connect(_post_delete, sender=model, dispatch_uid=f"{uid}.post_delete")
