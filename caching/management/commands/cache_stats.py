import json

from django.core.management.base import BaseCommand, CommandError

from caching import service
from caching.client import CacheUnavailable


def size(n: int) -> str:
    return f"{n / 2**20:.1f} MiB"


class Command(BaseCommand):
    help = ("Hits, misses, hit rate and key count per cache namespace (key counts SCAN Redis); "
            "Redis memory used, maxmemory, eviction policy and evicted keys.")

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", dest="as_json", help="print JSON")
        parser.add_argument("--reset", action="store_true", help="zero the counters after printing")

    def handle(self, *args, as_json: bool, reset: bool, **options):
        try:
            stats = {**service.stats(), "redis": service.memory()}
            if reset:
                service.reset_stats()
        except CacheUnavailable as error:
            raise CommandError(f"Redis is unavailable: {error}") from error
        if as_json:
            self.stdout.write(json.dumps(stats, indent=2))
        else:
            self.stdout.write(f"{'namespace':<12}{'hits':>10}{'misses':>10}{'hit rate':>10}{'loads':>10}{'keys':>10}")
            for name, row in stats["namespaces"].items():
                self.stdout.write(f"{name:<12}{row['hits']:>10}{row['misses']:>10}{row['hit_rate']:>10.2%}{row['loads']:>10}{row['keys']:>10}")
            total = stats["total"]
            self.stdout.write(f"{'total':<12}{total['hits']:>10}{total['misses']:>10}{total['hit_rate']:>10.2%}")
            self.stdout.write("")
            self.stdout.write(f"{'redis':<24}{'used':>12}{'maxmemory':>12}  {'policy':<16}{'evicted keys':>14}")
            memory = stats["redis"]
            rows = memory["nodes"] + ([{**memory, "node": "total"}] if len(memory["nodes"]) > 1 else [])
            for row in rows:
                limit = size(row["maxmemory"]) if row["maxmemory"] else "none"
                state = "  FULL: writes refused" if row["full"] else ""
                self.stdout.write(f"{row['node']:<24}{size(row['used_memory']):>12}{limit:>12}  {row['policy']:<16}{row['evicted_keys']:>14}{state}")
        if reset:
            self.stdout.write("counters reset")

