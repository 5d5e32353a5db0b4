"""The staff cache API's routes, mounted under ``/api/cache/``."""

from django.urls import path

from caching.ops import views

urlpatterns = [
    path("stats/", views.StatsView.as_view(), name="cache-stats"),
    path("stats/reset/", views.StatsResetView.as_view(), name="cache-stats-reset"),
    path("namespaces/<str:namespace>/", views.NamespaceView.as_view(), name="cache-namespace"),
]
