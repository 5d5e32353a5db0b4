"""Cache administration over HTTP (staff only): stats, reset, namespace clear."""

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import APIException, NotFound
from rest_framework.permissions import IsAdminUser
from rest_framework.response import Response
from rest_framework.views import APIView

from caching import registry, service
from caching.client import CacheUnavailable


class CacheDown(APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "Redis is unavailable; cache administration needs it."
    default_code = "cache_unavailable"


class CacheAdminView(APIView):
    permission_classes = [IsAdminUser]

    def handle_exception(self, exc):
        return super().handle_exception(CacheDown() if isinstance(exc, CacheUnavailable) else exc)


class StatsView(CacheAdminView):
    @extend_schema(responses=inline_serializer("CacheStats", {"namespaces": serializers.DictField(), "total": serializers.DictField(), "redis": serializers.DictField()}))
    def get(self, request):
        """Counters per namespace, totals, and Redis memory (``service.memory``)."""
        return Response({**service.stats(), "redis": service.memory()})


class StatsResetView(CacheAdminView):
    @extend_schema(request=None, responses={204: None})
    def post(self, request):
        service.reset_stats()
        return Response(status=status.HTTP_204_NO_CONTENT)


class NamespaceView(CacheAdminView):
    @extend_schema(responses=inline_serializer("NamespaceCleared", {"namespace": serializers.CharField(), "deleted": serializers.IntegerField()}))
    def delete(self, request, namespace: str):
        try:
            deleted = service.clear_namespace(namespace)
        except registry.UnknownNamespace as error:
            raise NotFound(str(error)) from None
        return Response({"namespace": namespace, "deleted": deleted})


def metrics_view(request):
    """``GET /metrics``: Prometheus text format, summed over the worker processes; only for
    the client addresses in ``settings.METRICS_ALLOWED_IPS`` (a scrape target, not an API)."""
    from django.conf import settings
    from django.http import HttpResponse, HttpResponseForbidden
    from prometheus_client import CONTENT_TYPE_LATEST

    from caching import metrics

    from django.utils.module_loading import import_string

    # The client's address as the project reads it (behind a proxy, not the proxy's own).
    if import_string(settings.CLIENT_ADDRESS)(request) not in settings.METRICS_ALLOWED_IPS:
        return HttpResponseForbidden("metrics are served to the addresses in METRICS_ALLOWED_IPS only")
    return HttpResponse(metrics.render(), content_type=CONTENT_TYPE_LATEST)
