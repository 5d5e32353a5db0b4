from typing import Any

from django.contrib.auth.models import AnonymousUser
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, viewsets
from rest_framework.request import Request
from rest_framework.serializers import BaseSerializer

from api.cached_reads import CachedReadsMixin
from api.params import query
from api.responses import not_found, page_body, send
from caching import get_or_load
from posts import entries, selectors
from posts.cache import post_key, posts_page_key
from posts.models import Post
from posts.permissions import IsAuthorOrStaff, may_see
from posts.serializers import PostListQuery, PostSerializer
from users.models import User


class PostViewSet(
    CachedReadsMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet[Post],
):
    """Posts. Reads are served from the cache service (``read_*``); writes go through DRF and
    invalidate through the model signals."""

    serializer_class = PostSerializer
    permission_classes = [IsAuthorOrStaff]

    def get_queryset(self) -> QuerySet[Post]:
        """Writes look posts up here: others' drafts do not exist for a non-staff caller (404)."""
        return selectors.writable_by(self.request.user)

    def perform_create(self, serializer: BaseSerializer[Post]) -> None:
        serializer.save(author=self.request.user)

    @extend_schema(parameters=[PostListQuery], responses=PostSerializer(many=True))
    def list(self, request: Request, *args: Any, **kwargs: Any) -> HttpResponse:
        return super().list(request, *args, **kwargs)

    @extend_schema(responses=PostSerializer)
    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> HttpResponse:
        return super().retrieve(request, *args, **kwargs)

    def read_list(self, request: HttpRequest, reader: User | AnonymousUser) -> HttpResponse:
        params = query(PostListQuery, request)
        if isinstance(params, HttpResponse):
            return params  # the 400
        number = params["page"]
        filters = {name: params.get(name) for name in ("author", "category")}
        key = posts_page_key(number, **filters)
        result = get_or_load(key, lambda: entries.post_page(number, **filters))
        entry = result.value
        if entry is None:
            return not_found("Invalid page.")
        body = page_body(request, entry, params, entry.parts[0])
        return send(request, result, body, entry.etags[0])

    def read_detail(
        self, request: HttpRequest, reader: User | AnonymousUser, pk: int
    ) -> HttpResponse:
        result = get_or_load(post_key(pk), lambda: entries.post_detail(pk))
        entry = result.value
        # One entry serves every reader, so the draft check runs on each read, hit or miss.
        if entry is None or not may_see(reader, entry.meta["draft_of"]):
            return not_found("No post with this id.")
        return send(request, result, entry.parts[0], entry.etags[0])
