"""Bench-only views (mounted when BENCH_VIEWS=true): the framework's own ceiling."""

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET


@require_GET
def ceiling(request: HttpRequest, size: int) -> HttpResponse:
    """Constant bytes of ``size`` behind the same middleware, touching neither PostgreSQL nor
    Redis: the most a cached read could serve."""
    return HttpResponse(b"x" * min(size, 1 << 20), content_type="application/json")
