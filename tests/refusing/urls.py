from django.urls import include, path
from rest_framework.decorators import action
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter

from config.urls import handler400, handler403, handler404, handler500, urlpatterns
from posts.views import PostViewSet
from users.views import UserViewSet

__all__ = ["handler400", "handler403", "handler404", "handler500", "urlpatterns"]


class RefuseReads(BasePermission):
    def has_permission(self, request, view) -> bool:
        return request.method not in SAFE_METHODS


class RefuseObjectReads(BasePermission):
    def has_object_permission(self, request, view, obj) -> bool:
        return request.method not in SAFE_METHODS


def router(permission: type[BasePermission]) -> SimpleRouter:
    routes = SimpleRouter()
    for prefix, viewset in (("posts", PostViewSet), ("users", UserViewSet)):
        guarded = type(
            f"{permission.__name__}{viewset.__name__}",
            (viewset,),
            {"permission_classes": [*viewset.permission_classes, permission]},
        )
        routes.register(prefix, guarded, basename=f"{permission.__name__}-{prefix}")
    return routes


class WithActions(PostViewSet):
    """Extra GET actions: their own code answers them, on either path."""

    @action(detail=True, methods=["get"])
    def summary(self, request, pk=None):
        return Response({"summary": f"of {pk}"})

    @action(detail=False, methods=["post"])
    def bulk(self, request):
        return Response({})


actions = SimpleRouter()
actions.register("posts", WithActions, basename="with-actions")

urlpatterns = [
    path("api/actions/", include(actions.urls)),
    path("api/refused/", include(router(RefuseReads).urls)),
    path("api/refused-objects/", include(router(RefuseObjectReads).urls)),
    *urlpatterns,
]
