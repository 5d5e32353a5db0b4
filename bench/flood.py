"""What a flood of list requests for filter values that match nothing costs Redis.

    python bench/flood.py                      # 10,000 distinct never-matching filters
    python bench/flood.py --requests 2000 --wait 8

Starts a private redis-server (``tests/redis_server.py``, no ``maxmemory``, so nothing is evicted
and every key the flood leaves is counted), points the app at it in this process, and sends
``GET /api/posts/?author=<unused id>&category=<unused slug>`` with a different pair each time
through Django's test client (the whole middleware and read path, no HTTP server). It reads
``INFO memory`` (``used_memory``) and ``DBSIZE`` before the flood, right after it, and ``--wait``
seconds later (after ``CACHE_EMPTY_TTL``), and prints them as JSON. The database is
``DATABASE_URL``'s (migrated if needed; its posts do not matter: no filter matches).
"""

import argparse
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def snapshot(r) -> dict:
    return {"used_memory": r.info("memory")["used_memory"], "keys": r.dbsize()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument(
        "--wait", type=float, default=6.0, help="seconds after the flood for the last reading"
    )
    args = parser.parse_args()

    from tests.redis_server import RedisServer

    # A terminated run unwinds like an error: its redis-server is stopped on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    with RedisServer() as server:
        os.environ["REDIS_URL"] = server.url
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
        # Settings refuse the dev secret key when DEBUG is off: a throwaway key unless one is given.
        os.environ.setdefault("DJANGO_SECRET_KEY", "bench-" + secrets.token_urlsafe(32))
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
            cwd=ROOT,
            env=os.environ,
            check=True,
        )
        import django

        django.setup()
        from django.test import Client

        r = server.client()
        api = Client(SERVER_NAME="localhost")
        before = snapshot(r)
        began = time.monotonic()
        statuses: dict[str, int] = {}
        for n in range(args.requests):
            response = api.get(
                f"/api/posts/?author={900_000_000 + n}&category=zzzz-nonexistent-{n}"
            )
            assert response.status_code == 200 and response.json()["count"] == 0, (
                response.status_code
            )
            statuses[response["X-Cache"]] = statuses.get(response["X-Cache"], 0) + 1
        took = time.monotonic() - began
        after = snapshot(r)
        time.sleep(args.wait)
        later = snapshot(r)
        print(
            json.dumps(
                {
                    "requests": args.requests,
                    "seconds": round(took, 1),
                    "per_second": round(args.requests / took),
                    "x_cache": statuses,
                    "before": before,
                    "right_after": after,
                    f"after_{args.wait:g}s": later,
                    "flood_bytes_right_after": after["used_memory"] - before["used_memory"],
                    f"flood_bytes_after_{args.wait:g}s": later["used_memory"]
                    - before["used_memory"],
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
