from typing import Any

from django.core.management.base import BaseCommand, CommandError

from caching.backend.policy import CacheUnavailable
from caching.outbox.delivery import backlog, replay


class Command(BaseCommand):
    help = (
        "Deliver the invalidations left in the outbox while Redis was unavailable (oldest first)."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            delivered = replay()
        except CacheUnavailable as error:
            waiting = backlog()
            raise CommandError(
                f"Redis is unavailable ({error}); {waiting} invalidations wait in the outbox"
            ) from error
        self.stdout.write(f"delivered {delivered} invalidations; {backlog()} left")
