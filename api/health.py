from django.db import DatabaseError, connection
from django.db.migrations.executor import MigrationExecutor
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api import release
from caching import cache_state, outbox_backlog


def _database_answers() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError:
        return False
    return True


class HealthView(APIView):
    """Liveness of the two backends. 200 while the database answers, even with Redis down
    (the API keeps serving from the database); 503 when the database does not. ``cache`` is
    ``ok``, ``full`` (Redis refuses writes for want of memory; hits are still served) or
    ``unavailable``."""

    permission_classes = [AllowAny]
    authentication_classes = []

    @extend_schema(
        responses=inline_serializer(
            "Health", {"database": serializers.CharField(), "cache": serializers.CharField()}
        )
    )
    def get(self, request: Request) -> Response:
        database = "ok" if _database_answers() else "unavailable"
        body = {"database": database, "cache": cache_state()}
        return Response(body, status=200 if database == "ok" else 503)


class LiveView(APIView):
    """Liveness: the process answers. Touches neither the database nor Redis, so a backend
    outage never gets a healthy process restarted."""

    permission_classes = [AllowAny]
    authentication_classes = []
    throttle_classes = []

    @extend_schema(responses=inline_serializer("Live", {"status": serializers.CharField()}))
    def get(self, request: Request) -> Response:
        return Response({"status": "ok"})


class Migrations:
    """Whether every migration is applied, in one object with one ``reset()``. The check loads
    the migration graph, so it runs until it holds and is then remembered: a running process's
    code gains no migration. ``reset()`` forgets it, as a new process would (tests)."""

    _applied: bool

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._applied = False

    def applied(self) -> bool:
        if not self._applied:
            executor = MigrationExecutor(connection)
            self._applied = not executor.migration_plan(executor.loader.graph.leaf_nodes())
        return self._applied


MIGRATIONS = Migrations()


class ReadyView(APIView):
    """Readiness: 200 when the database answers and every migration is applied, else 503. The
    cache and the outbox backlog are reported but never fail it: with Redis down the API still
    serves, from the database. The release says what is running."""

    permission_classes = [AllowAny]
    authentication_classes = []
    throttle_classes = []

    @extend_schema(
        responses=inline_serializer(
            "Ready",
            {
                "status": serializers.CharField(),
                "database": serializers.CharField(),
                "migrations": serializers.CharField(),
                "cache": serializers.CharField(),
                "outbox_backlog": serializers.IntegerField(allow_null=True),
                "release": inline_serializer(
                    "Release",
                    {"version": serializers.CharField(), "commit": serializers.CharField()},
                ),
            },
        )
    )
    def get(self, request: Request) -> Response:
        database, migrations, pending = "unavailable", "unknown", None
        try:
            if _database_answers():
                database = "ok"
                migrations = "applied" if MIGRATIONS.applied() else "pending"
                pending = outbox_backlog()
        except DatabaseError:
            pass
        ready = database == "ok" and migrations == "applied"
        body = {
            "status": "ready" if ready else "not ready",
            "database": database,
            "migrations": migrations,
            "cache": cache_state(),
            "outbox_backlog": pending,
            "release": {"version": release.VERSION, "commit": release.commit()},
        }
        return Response(body, status=200 if ready else 503)
