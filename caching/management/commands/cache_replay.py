from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from caching.ops.progress import add_progress_argument, progress_bar
from caching.outbox.delivery import outbox_backlog, replay
from caching.redis.policy import CacheUnavailableError


class Command(BaseCommand):
    help = (
        "Deliver the invalidations left in the outbox while Redis was unavailable (oldest first)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        add_progress_argument(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            with progress_bar(
                options, desc="outbox", unit="invalidations", total=outbox_backlog()
            ) as progress:
                delivered = replay(progress=progress)
        except CacheUnavailableError as error:
            waiting = outbox_backlog()
            raise CommandError(
                f"Redis is unavailable ({error}); {waiting} invalidations wait in the outbox"
            ) from error
        self.stdout.write(f"delivered {delivered} invalidations; {outbox_backlog()} left")
