from django.core.management.base import BaseCommand, CommandError

from caching import registry, service
from caching.client import CacheUnavailable


class Command(BaseCommand):
    help = "Delete every key of the given cache namespaces (SCAN + UNLINK in batches; never KEYS)."

    def add_arguments(self, parser):
        parser.add_argument("namespaces", nargs="*", metavar="NAMESPACE")
        parser.add_argument("--all", action="store_true", help="every registered namespace")
        parser.add_argument("--dry-run", action="store_true", help="count the keys, delete nothing")

    def handle(self, *args, namespaces, all, dry_run, **options):
        if all == bool(namespaces):
            raise CommandError("name one or more namespaces, or pass --all (not both)")
        try:  # every name is checked before anything is removed
            names = [registry.require(name).name for name in namespaces] if namespaces else registry.namespaces()
        except registry.UnknownNamespace as error:
            raise CommandError(f"{error} (globs are not accepted); nothing was removed") from None
        verb = "would remove" if dry_run else "removed"
        try:
            for name in names:
                count = service.clear_namespace(name, dry_run=dry_run)
                self.stdout.write(f"{name}: {verb} {count} keys")
        except CacheUnavailable as error:
            raise CommandError(f"Redis is unavailable: {error}") from error
