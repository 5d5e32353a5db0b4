from django.conf import settings
from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from api import errors
from api.bench import ceiling
from api.health import HealthView, LiveView, ReadyView
from caching.ops.dashboard import dashboard, flush
from caching.ops.views import metrics_view
from posts.views import PostViewSet
from users.views import TokenView, UserViewSet


class Router(DefaultRouter):
    """No format suffixes: /api/posts/1.5/ is a malformed id (a 404), not post 1 in format "5"."""

    include_format_suffixes = False


router = Router()
router.register("users", UserViewSet, basename="user")
router.register("posts", PostViewSet, basename="post")

urlpatterns: list[URLPattern | URLResolver] = [
    path("admin/cache/", admin.site.admin_view(dashboard), name="cache-dashboard"),
    path("admin/cache/flush/<str:namespace>/", admin.site.admin_view(flush), name="cache-flush"),
    path("admin/", admin.site.urls),
    path("api/auth/token/", TokenView.as_view(), name="api-token"),
    path("api/health/", HealthView.as_view(), name="health"),
    re_path(r"^api/health/live/?$", LiveView.as_view(), name="health-live"),
    re_path(r"^api/health/ready/?$", ReadyView.as_view(), name="health-ready"),
    path("api/cache/", include("caching.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("api/", include(router.urls)),
    re_path(r"^api/", errors.api_not_found, name="api-not-found"),
    path("metrics", metrics_view, name="metrics"),
]
if settings.BENCH_VIEWS:
    urlpatterns.append(path("bench/ceiling/<int:size>/", ceiling, name="bench-ceiling"))

handler400 = errors.bad_request
handler403 = errors.permission_denied
handler404 = errors.page_not_found
handler500 = errors.server_error
