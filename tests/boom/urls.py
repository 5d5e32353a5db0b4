import logging

from django.http import HttpRequest, HttpResponse
from django.urls import path

from config.urls import handler400, handler403, handler404, handler500, urlpatterns

__all__ = ["handler400", "handler403", "handler404", "handler500", "urlpatterns"]


def boom(request: HttpRequest) -> HttpResponse:
    logging.getLogger("tests.boom").warning("about to fail")
    raise RuntimeError("a deliberate failure")


urlpatterns = [path("api/boom/", boom, name="boom"), *urlpatterns]
