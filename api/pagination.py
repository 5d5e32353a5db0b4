"""Page-number pagination shared by the cached lists: rows and ``{count, pages}``, without the
links, which are built per request (``api.responses.page_body``; docs/reads.md, "Entries")."""

from typing import Any, cast

from django.conf import settings
from django.core.paginator import EmptyPage, Paginator
from django.db.models import QuerySet
from rest_framework.serializers import BaseSerializer


def page_of(
    queryset: QuerySet[Any], number: int, serializer_class: type[BaseSerializer[Any]]
) -> tuple[dict[str, int], list[Any]] | None:
    """Page ``number`` of ``queryset``: ``({count, pages}, serialized rows)``, or ``None``."""
    # REST_FRAMEWORK mixes value types (inferred as dict[str, object]); PAGE_SIZE is an int
    paginator = Paginator(queryset, cast(int, settings.REST_FRAMEWORK["PAGE_SIZE"]))
    try:
        page = paginator.page(number)
    except EmptyPage:
        return None
    rows = serializer_class(page.object_list, many=True).data
    return {"count": paginator.count, "pages": paginator.num_pages}, rows
