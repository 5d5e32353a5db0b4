import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from caching.ops.memory import memory, memory_rows
from caching.ops.stats import reset_stats, stats
from caching.redis.policy import CacheUnavailableError


def size(n: int) -> str:
    return f"{n / 2**20:.1f} MiB"


class Command(BaseCommand):
    help = (
        "Hits, misses, hit rate and key count per cache namespace (key counts SCAN Redis); "
        "Redis memory used, maxmemory, eviction policy and evicted keys."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", dest="as_json", help="print JSON")
        parser.add_argument("--reset", action="store_true", help="zero the counters after printing")

    def handle(self, *args: Any, as_json: bool, reset: bool, **options: Any) -> None:
        try:
            found = {**stats(), "redis": memory()}
            if reset:
                reset_stats()
        except CacheUnavailableError as error:
            raise CommandError(f"Redis is unavailable: {error}") from error
        if as_json:
            self.stdout.write(json.dumps(found, indent=2))
        else:
            self._table(found)
        if reset:
            self.stdout.write("counters reset")

    def _table(self, found: dict[str, Any]) -> None:
        write = self.stdout.write
        write(
            f"{'namespace':<12}{'hits':>10}{'misses':>10}{'hit rate':>10}{'stale':>10}"
            f"{'loads':>10}{'keys':>10}"
        )
        for name, row in found["namespaces"].items():
            write(
                f"{name:<12}{row['hits']:>10}{row['misses']:>10}{row['hit_rate']:>10.2%}"
                f"{row['stale']:>10}{row['loads']:>10}{row['keys']:>10}"
            )
        total = found["total"]
        write(f"{'total':<12}{total['hits']:>10}{total['misses']:>10}{total['hit_rate']:>10.2%}")
        write("")
        write(f"{'redis':<24}{'used':>12}{'maxmemory':>12}  {'policy':<16}{'evicted keys':>14}")
        for row in memory_rows(found["redis"]):
            limit = size(row["maxmemory"]) if row["maxmemory"] else "none"
            state = "  FULL: writes refused" if row["full"] else ""
            write(
                f"{row['node']:<24}{size(row['used_memory']):>12}{limit:>12}  "
                f"{row['policy']:<16}{row['evicted_keys']:>14}{state}"
            )
