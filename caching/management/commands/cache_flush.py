from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from caching.core import rules
from caching.ops.keyspace import clear_namespace
from caching.ops.progress import add_progress_argument, progress_bar
from caching.redis.policy import CacheUnavailableError


class Command(BaseCommand):
    help = "Delete every key of the given cache namespaces (SCAN + UNLINK in batches; never KEYS)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("namespaces", nargs="*", metavar="NAMESPACE")
        parser.add_argument("--all", action="store_true", help="every registered namespace")
        parser.add_argument("--dry-run", action="store_true", help="count the keys, delete nothing")
        add_progress_argument(parser)

    def handle(
        self, *args: Any, namespaces: list[str], all: bool, dry_run: bool, **options: Any
    ) -> None:
        if all == bool(namespaces):
            raise CommandError("name one or more namespaces, or pass --all (not both)")
        try:  # every name is checked before anything is removed
            names = [rules.require(name).name for name in namespaces] or rules.namespaces()
        except rules.UnknownNamespaceError as error:
            raise CommandError(f"{error} (globs are not accepted); nothing was removed") from None
        verb = "would remove" if dry_run else "removed"
        try:
            for name in names:
                with progress_bar(options, desc=name, unit="keys") as progress:
                    count = clear_namespace(name, dry_run=dry_run, progress=progress)
                self.stdout.write(f"{name}: {verb} {count} keys")
        except CacheUnavailableError as error:
            raise CommandError(f"Redis is unavailable: {error}") from error
