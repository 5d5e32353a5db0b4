"""The cache dashboard in the Django admin (staff only): namespaces, the last hour's hit rate,
Redis memory, and a flush per namespace (POST, CSRF, a confirmation step)."""

from typing import Any

from django.contrib import admin, messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse

from caching.core import rules
from caching.core.options import options
from caching.ops.keyspace import clear_namespace, count_keys
from caching.ops.memory import memory, memory_rows
from caching.ops.stats import history, stats
from caching.redis.policy import CacheUnavailableError

CHART_WIDTH, CHART_HEIGHT = 600, 120


def _chart(history: list[dict[str, Any]]) -> dict[str, Any]:
    """An SVG polyline of the per-minute hit rate (gaps where a minute had no reads)."""
    step = CHART_WIDTH / max(len(history) - 1, 1)
    segments: list[list[str]] = [[]]
    points: list[tuple[float, float]] = []
    for i, row in enumerate(history):
        if row["hit_rate"] is None:
            segments.append([])
            continue
        point = (round(i * step, 1), round(CHART_HEIGHT - row["hit_rate"] * CHART_HEIGHT, 1))
        segments[-1].append(f"{point[0]},{point[1]}")
        points.append(point)
    return {
        "width": CHART_WIDTH,
        "height": CHART_HEIGHT,
        "lines": [" ".join(segment) for segment in segments if len(segment) > 1],
        "points": points,
        "reads": sum(row["hits"] + row["misses"] for row in history),
    }


def _percent(row: dict[str, Any]) -> str:
    return f"{row['hit_rate']:.1%}" if row["hits"] + row["misses"] else "–"


def dashboard(request: HttpRequest) -> HttpResponse:
    context = {**admin.site.each_context(request), "title": "Cache dashboard"}
    try:
        counters = stats()
        recent = history(60)
        redis_memory = memory()
    except CacheUnavailableError:
        context["unavailable"] = True
        return TemplateResponse(request, "caching/dashboard.html", context)
    context["rows"] = [
        {"name": name, "ttl": options().ttl(name), **row, "hit_percent": _percent(row)}
        for name, row in counters["namespaces"].items()
    ]
    context["total"] = {**counters["total"], "hit_percent": _percent(counters["total"])}
    context["chart"] = _chart(recent)
    context["memory"] = redis_memory
    context["memory_rows"] = memory_rows(redis_memory)
    return TemplateResponse(request, "caching/dashboard.html", context)


def flush(request: HttpRequest, namespace: str) -> HttpResponse:
    """GET: the confirmation page; POST: the same SCAN-based clear as ``cache_flush``."""
    try:
        rules.require(namespace)
    except rules.UnknownNamespaceError as error:
        raise Http404(str(error)) from None
    if request.method == "POST":
        try:
            removed = clear_namespace(namespace)
        except CacheUnavailableError:
            messages.error(request, "Redis is unavailable: nothing was flushed.")
        else:
            messages.success(request, f"Flushed namespace {namespace!r}: {removed} keys removed.")
        return redirect(reverse("cache-dashboard"))
    try:
        count = count_keys().get(namespace, 0)
    except CacheUnavailableError:
        messages.error(request, "Redis is unavailable: nothing can be flushed now.")
        return redirect(reverse("cache-dashboard"))
    context = {
        **admin.site.each_context(request),
        "title": f"Flush namespace {namespace!r}?",
        "namespace": namespace,
        "keys": count,
    }
    return TemplateResponse(request, "caching/flush_confirm.html", context)
