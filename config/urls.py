from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.authtoken.views import obtain_auth_token
from rest_framework.routers import DefaultRouter

from caching.dashboard import dashboard, flush
from caching.views import metrics_view
from config.health import HealthView
from posts.views import PostViewSet
from users.views import UserViewSet

router = DefaultRouter()
router.register("users", UserViewSet, basename="user")
router.register("posts", PostViewSet, basename="post")

urlpatterns = [
    path("admin/cache/", admin.site.admin_view(dashboard), name="cache-dashboard"),
    path("admin/cache/flush/<str:namespace>/", admin.site.admin_view(flush), name="cache-flush"),
    path("admin/", admin.site.urls),
    path("api/auth/token/", obtain_auth_token, name="api-token"),
    path("api/health/", HealthView.as_view(), name="health"),
    path("api/cache/", include("caching.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("api/", include(router.urls)),
    path("metrics", metrics_view, name="metrics"),
]

if settings.BENCH_VIEWS:
    from config.bench import ceiling

    urlpatterns.append(path("bench/ceiling/<int:size>/", ceiling))
