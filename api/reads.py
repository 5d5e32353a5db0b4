"""GET list and detail answered from the cache's rendered bytes: no ORM, serializer or
renderer on a hit. For anonymous and token-authenticated readers even DRF's request cycle is
skipped (``CachedReadsMixin.dispatch``); other readers (a session with a token header, a bad
token) go through DRF, which ends in the same read functions."""

from typing import Any

from django.http import HttpRequest, HttpResponse

from api.params import parse_pk
from api.readers import fast_reader
from api.responses import not_found


def wants_json(request: HttpRequest) -> bool:
    accept = request.META.get("HTTP_ACCEPT", "*/*")
    return "format" not in request.GET and ("json" in accept or "*/*" in accept)


class CachedReadsMixin:
    """For viewsets: GET list and retrieve answered by ``read_list(request, reader)`` and
    ``read_detail(request, reader, pk)``, on the fast path when the reader is known cheaply."""

    action_map: dict[str, str]

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        action = self.action_map.get("get") if request.method == "GET" else None
        if action in ("list", "retrieve") and wants_json(request):
            reader = fast_reader(request)
            if reader is not None:
                return self._read(action, request, reader, kwargs)
        return super().dispatch(request, *args, **kwargs)  # type: ignore[misc, no-any-return]

    def list(self, request: Any, *args: Any, **kwargs: Any) -> HttpResponse:
        return self._read("list", request, request.user, kwargs)

    def retrieve(self, request: Any, *args: Any, **kwargs: Any) -> HttpResponse:
        return self._read("retrieve", request, request.user, kwargs)

    def read_list(self, request: HttpRequest, reader: Any) -> HttpResponse:
        raise NotImplementedError

    def read_detail(self, request: HttpRequest, reader: Any, pk: int) -> HttpResponse:
        raise NotImplementedError

    def _read(
        self, action: str | None, request: HttpRequest, reader: Any, kwargs: dict[str, Any]
    ) -> HttpResponse:
        if action == "list":
            return self.read_list(request, reader)
        pk = parse_pk(kwargs.get("pk", ""))
        return self.read_detail(request, reader, pk) if pk is not None else not_found("Not found.")
