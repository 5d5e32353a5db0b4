"""The bare ceiling's one route (bench/bare_settings.py)."""

from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.views.decorators.http import require_GET


@require_GET
def ceiling(request: HttpRequest, size: int) -> HttpResponse:
    """Constant bytes of ``size``, built as the project's ceiling view builds them
    (``api/bench.py``), so that the two differ by the middleware alone."""
    return HttpResponse(b"x" * min(size, 1 << 20), content_type="application/json")


urlpatterns = [path("bench/ceiling/<int:size>/", ceiling)]
