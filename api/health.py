from django.db import DatabaseError, connection
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from caching import cache_state


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
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
            database = "ok"
        except DatabaseError:
            database = "unavailable"
        body = {"database": database, "cache": cache_state()}
        return Response(body, status=200 if database == "ok" else 503)
