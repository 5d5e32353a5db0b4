import logging
import time

from django.http import HttpRequest, HttpResponse
from django.urls import path

from config.urls import handler400, handler403, handler404, handler500, urlpatterns

__all__ = ["handler400", "handler403", "handler404", "handler500", "urlpatterns"]


def boom(request: HttpRequest) -> HttpResponse:
    logging.getLogger("tests.boom").warning("about to fail")
    raise RuntimeError("a deliberate failure")


def slow(request: HttpRequest) -> HttpResponse:
    """Answers after ``?s=`` seconds (at most 10): a request in flight when the server stops."""
    time.sleep(min(float(request.GET.get("s", "1")), 10))
    return HttpResponse(b"done", content_type="text/plain")


urlpatterns = [
    path("api/boom/", boom, name="boom"),
    path("api/slow/", slow, name="slow"),
    *urlpatterns,
]
