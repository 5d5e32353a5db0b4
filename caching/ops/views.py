"""The staff cache API over HTTP (stats, reset, namespace clear), and ``/metrics``."""

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden
from django.utils.module_loading import import_string
from drf_spectacular.utils import extend_schema, inline_serializer
from prometheus_client import CONTENT_TYPE_LATEST
from rest_framework import serializers, status
from rest_framework.exceptions import APIException, NotFound
from rest_framework.permissions import IsAdminUser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from caching.core import rules
from caching.ops import scrape
from caching.ops.keyspace import clear_namespace
from caching.ops.memory import memory
from caching.ops.stats import reset_stats, stats
from caching.redis.policy import CacheUnavailableError


class CacheDownError(APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "Redis is unavailable; cache administration needs it."
    default_code = "cache_unavailable"


class CacheAdminView(APIView):
    permission_classes = [IsAdminUser]

    def handle_exception(self, exc: Exception) -> Response:
        return super().handle_exception(
            CacheDownError() if isinstance(exc, CacheUnavailableError) else exc
        )


class StatsView(CacheAdminView):
    @extend_schema(
        responses=inline_serializer(
            "CacheStats",
            {
                "namespaces": serializers.DictField(),
                "total": serializers.DictField(),
                "redis": serializers.DictField(),
            },
        )
    )
    def get(self, request: Request) -> Response:
        """Counters per namespace, totals, and Redis memory (``caching.ops.memory``)."""
        return Response({**stats(), "redis": memory()})


class StatsResetView(CacheAdminView):
    @extend_schema(request=None, responses={204: None})
    def post(self, request: Request) -> Response:
        reset_stats()
        return Response(status=status.HTTP_204_NO_CONTENT)


class NamespaceView(CacheAdminView):
    @extend_schema(
        responses=inline_serializer(
            "NamespaceCleared",
            {"namespace": serializers.CharField(), "deleted": serializers.IntegerField()},
        )
    )
    def delete(self, request: Request, namespace: str) -> Response:
        try:
            deleted = clear_namespace(namespace)
        except rules.UnknownNamespaceError as error:
            raise NotFound(str(error)) from None
        return Response({"namespace": namespace, "deleted": deleted})


def metrics_view(request: HttpRequest) -> HttpResponse:
    """``GET /metrics``, only for the client addresses in ``settings.METRICS_ALLOWED_IPS`` (read
    as the project reads them, ``settings.CLIENT_ADDRESS``)."""
    if import_string(settings.CLIENT_ADDRESS)(request) not in settings.METRICS_ALLOWED_IPS:
        return HttpResponseForbidden(
            "metrics are served to the addresses in METRICS_ALLOWED_IPS only"
        )
    return HttpResponse(scrape.render(), content_type=CONTENT_TYPE_LATEST)
