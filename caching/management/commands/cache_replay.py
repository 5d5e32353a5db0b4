from django.core.management.base import BaseCommand, CommandError

from caching import outbox
from caching.client import CacheUnavailable


class Command(BaseCommand):
    help = "Deliver the invalidations left in the outbox while Redis was unavailable (oldest first)."

    def handle(self, *args, **options):
        try:
            delivered = outbox.replay()
        except CacheUnavailable as error:
            raise CommandError(f"Redis is unavailable ({error}); {outbox.backlog()} invalidations wait in the outbox") from error
        self.stdout.write(f"delivered {delivered} invalidations; {outbox.backlog()} left")
