from drf_spectacular.utils import extend_schema
from rest_framework import viewsets
from rest_framework.exceptions import NotFound

from caching.service import get_or_load
from config.api import cached_response, page_response, parse_pk
from posts import selectors
from posts.cache import post_key, posts_page_key
from posts.permissions import IsAuthorOrStaff, may_see
from posts.serializers import PostListQuery, PostSerializer


class PostViewSet(viewsets.ModelViewSet):
    """Posts. Reads go through the cache service; writes invalidate through model signals."""

    serializer_class = PostSerializer
    permission_classes = [IsAuthorOrStaff]

    def get_queryset(self):
        """Writes look posts up here: others' drafts do not exist for a non-staff caller (404)."""
        return selectors.writable_by(self.request.user)

    @extend_schema(parameters=[PostListQuery])
    def list(self, request, *args, **kwargs):
        query = PostListQuery(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        number = query.validated_data["page"]
        filters = {name: query.validated_data.get(name) for name in ("author", "category")}
        key = posts_page_key(number, **filters)
        result = get_or_load(key, lambda: selectors.post_page(number, **filters))
        return page_response(request, result, number)

    def retrieve(self, request, pk=None, *args, **kwargs):
        pk = parse_pk(pk)
        result = get_or_load(post_key(pk), lambda: selectors.post_detail(pk))
        # One cache entry serves every reader, so the draft check runs on each read, hit or miss.
        if result.value is None or not may_see(result.value, request.user):
            raise NotFound("No post with this id.")
        return cached_response(result, result.value)

    def perform_create(self, serializer):
        serializer.save(author=self.request.user)
