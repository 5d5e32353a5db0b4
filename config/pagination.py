"""Page-number pagination shared by the cached lists.

A cached page holds ``{count, pages, results}``; the ``next``/``previous`` links are built per
request, so a shared cache entry never carries another client's host name.
"""

from django.conf import settings
from django.core.paginator import EmptyPage, Paginator
from django.db.models import QuerySet
from rest_framework.request import Request
from rest_framework.utils.urls import remove_query_param, replace_query_param


def page_of(queryset: QuerySet, number: int, serializer_class) -> dict | None:
    """Page ``number`` of ``queryset`` as ``{count, pages, results}``; ``None`` if out of range."""
    paginator = Paginator(queryset, settings.REST_FRAMEWORK["PAGE_SIZE"])
    try:
        page = paginator.page(number)
    except EmptyPage:
        return None
    results = serializer_class(page.object_list, many=True).data
    return {"count": paginator.count, "pages": paginator.num_pages, "results": results}


def links(request: Request, number: int, pages: int) -> tuple[str | None, str | None]:
    url = request.build_absolute_uri()
    following = replace_query_param(url, "page", number + 1) if number < pages else None
    if number <= 1:
        preceding = None
    elif number == 2:
        preceding = remove_query_param(url, "page")
    else:
        preceding = replace_query_param(url, "page", number - 1)
    return following, preceding
