from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import viewsets
from rest_framework.exceptions import NotFound

from caching.service import get_or_load
from config.api import PageQuery, cached_response, page_response, parse_pk
from users import selectors
from users.cache import user_key, users_page_key
from users.models import User
from users.permissions import IsSelfOrStaff
from users.serializers import UserSerializer, UserWriteSerializer


def visible(user, reader) -> dict:
    """``user`` as ``reader`` may see it: the email only for the user themself and staff."""
    if reader.is_staff or (reader.is_authenticated and reader.pk == user["id"]):
        return user
    return {name: value for name, value in user.items() if name != "email"}


class UserViewSet(viewsets.ModelViewSet):
    """Users. Reads go through the cache service; writes invalidate through model signals."""

    queryset = User.objects.all()
    permission_classes = [IsSelfOrStaff]

    def get_serializer_class(self):
        return UserSerializer if self.action in ("list", "retrieve") else UserWriteSerializer

    def get_queryset(self):
        return selectors.users_with_counts()

    @extend_schema(parameters=[OpenApiParameter("page", int)])
    def list(self, request, *args, **kwargs):
        query = PageQuery(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        number = query.validated_data["page"]
        result = get_or_load(users_page_key(number), lambda: selectors.user_page(number))
        return page_response(request, result, number, lambda item: visible(item, request.user))

    def retrieve(self, request, pk=None, *args, **kwargs):
        pk = parse_pk(pk)
        result = get_or_load(user_key(pk), lambda: selectors.user_detail(pk))
        if result.value is None:
            raise NotFound("No user with this id.")
        return cached_response(result, visible(result.value, request.user))

    def perform_create(self, serializer):
        self._save_and_reload(serializer)

    def perform_update(self, serializer):
        self._save_and_reload(serializer)

    @staticmethod
    def _save_and_reload(serializer):
        """Save, then reload with ``post_count`` so the response is the full representation."""
        serializer.save()
        serializer.instance = selectors.users_with_counts().get(pk=serializer.instance.pk)
