"""Page-number pagination shared by the cached lists: rows and ``{count, pages}``, without the
links, which are built per request (``api.responses.page_body``; docs/reads.md, "Entries")."""

from typing import Any, cast

from django.conf import settings
from django.contrib.postgres.expressions import ArraySubquery
from django.core.paginator import EmptyPage, Paginator
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import F, Lookup, QuerySet
from django.db.models.sql.compiler import SQLCompiler
from rest_framework.serializers import BaseSerializer


class _AnyOf(Lookup):
    """``lhs = ANY(rhs)``, ``rhs`` an array. PostgreSQL computes an ``ARRAY(subquery)`` once and
    looks its values up by index, whatever its row estimates; with ``IN (subquery)`` a low
    estimate can make it run the subquery again for every row of the outer query."""

    def as_sql(self, compiler: SQLCompiler, connection: BaseDatabaseWrapper) -> tuple[str, Any]:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs} = ANY({rhs})", (*lhs_params, *rhs_params)


def _by_keys(queryset: QuerySet[Any], bottom: int, top: int) -> QuerySet[Any]:
    """``queryset[bottom:top]`` in one statement whose subquery selects the keys alone, which an
    index on the ordering answers by itself: the ``OFFSET`` skips index entries, and only the
    page's rows are read and joined."""
    keys = queryset.values("pk")[bottom:top]
    return queryset.filter(_AnyOf(F("pk"), ArraySubquery(keys)))


def page_of(
    queryset: QuerySet[Any],
    number: int,
    serializer_class: type[BaseSerializer[Any]],
    *,
    keys_first: bool = False,
) -> tuple[dict[str, int], list[Any]] | None:
    """Page ``number`` of ``queryset``: ``({count, pages}, serialized rows)``, or ``None``.

    ``keys_first`` reads the pages after the first by their keys (``_by_keys``), which keeps a
    deep page cheap (docs/benchmarks.md, "Lists without the cache"): for a queryset without an
    aggregate, filtered and ordered by an index."""
    # REST_FRAMEWORK mixes value types (inferred as dict[str, object]); PAGE_SIZE is an int
    paginator = Paginator(queryset, cast(int, settings.REST_FRAMEWORK["PAGE_SIZE"]))
    try:
        page = paginator.page(number)
    except EmptyPage:
        return None
    rows = page.object_list
    if keys_first and number > 1:  # page 1 has no OFFSET: the plain query stops after a page
        rows = _by_keys(queryset, (number - 1) * paginator.per_page, page.end_index())
    data = serializer_class(rows, many=True).data
    return {"count": paginator.count, "pages": paginator.num_pages}, data
