"""The probes: liveness, readiness and the backends' health (docs/operations.md, "Probes")."""

from django.db import DatabaseError, connection
from django.db.migrations.executor import MigrationExecutor
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api import release
from caching import STATE, cache_state, outbox_backlog, outbox_unchecked


def _database_answers() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError:
        return False
    return True


class HealthView(APIView):
    """200 while the database answers, even with Redis down; 503 when it does not."""

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
    """Liveness: touches neither backend, so an outage never gets a healthy process restarted."""

    permission_classes = [AllowAny]
    authentication_classes = []
    throttle_classes = []

    @extend_schema(responses=inline_serializer("Live", {"status": serializers.CharField()}))
    def get(self, request: Request) -> Response:
        return Response({"status": "ok"})


class Migrations:
    """Whether every migration is applied. The check loads the migration graph, so once it holds
    it is remembered (a running process gains no migration) until ``reset()`` (tests)."""

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
STATE.on_reset(MIGRATIONS.reset)  # one reset for all the process keeps (STYLE 14)


class ReadyView(APIView):
    """Readiness: the database answers and every migration is applied; the cache, the outbox
    backlog and the release are reported, never fatal."""

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
                "outbox": serializers.CharField(),
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
            # this process serves hits on its last outbox check, the database away
            "outbox": "unchecked" if outbox_unchecked() else "checked",
            "release": {"version": release.VERSION, "commit": release.commit()},
        }
        return Response(body, status=200 if ready else 503)
