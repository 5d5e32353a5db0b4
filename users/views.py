import json
from typing import Any

from django.contrib.auth.models import AnonymousUser
from django.contrib.auth.signals import user_logged_in
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, viewsets
from rest_framework.authtoken.models import Token
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer
from rest_framework.views import APIView

from api.cached_reads import CachedReadsMixin
from api.params import PageQuery, query
from api.responses import not_found, page_body, render, send
from caching import etag, get_or_load
from users import entries, selectors
from users.cache import user_key, users_page_key
from users.entries import PUBLIC, WITH_EMAIL, without_email
from users.lockout import refuse_if_locked_out
from users.models import User
from users.permissions import IsSelfOrStaff
from users.serializers import TokenRequestSerializer, UserSerializer, UserWriteSerializer


class UserViewSet(
    CachedReadsMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet[User],
):
    """Users. Reads are served from the cache service (``read_*``); writes go through DRF and
    invalidate through the model signals. Emails only for the user themself and staff."""

    permission_classes = [IsSelfOrStaff]

    def get_serializer_class(self) -> type[BaseSerializer[User]]:
        return UserSerializer if self.action in ("list", "retrieve") else UserWriteSerializer

    def get_queryset(self) -> QuerySet[User]:
        return selectors.users_with_counts()

    @extend_schema(parameters=[PageQuery], responses=UserSerializer(many=True))
    def list(self, request: Request, *args: Any, **kwargs: Any) -> HttpResponse:
        return super().list(request, *args, **kwargs)

    @extend_schema(responses=UserSerializer)
    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> HttpResponse:
        return super().retrieve(request, *args, **kwargs)

    def read_list(self, request: HttpRequest, reader: User | AnonymousUser) -> HttpResponse:
        params = query(PageQuery, request)
        if isinstance(params, HttpResponse):
            return params  # the 400
        number = params["page"]
        result = get_or_load(users_page_key(number), lambda: entries.user_page(number))
        entry = result.value
        if entry is None:
            return not_found("Invalid page.")
        if reader.is_staff:
            part = WITH_EMAIL
        elif reader.is_authenticated and reader.pk in entry.meta["ids"]:
            # A user on this page sees their own email and no one else's: a per-reader body.
            rows = [
                row if row["id"] == reader.pk else without_email(row)
                for row in json.loads(entry.parts[WITH_EMAIL])
            ]
            body = render(rows)  # its ETag hashes this body only: no hash of others' emails
            page = page_body(request, entry, params, body)
            return send(request, result, page, etag(entry.etags[PUBLIC].encode(), body))
        else:
            part = PUBLIC
        page = page_body(request, entry, params, entry.parts[part])
        return send(request, result, page, entry.etags[part])

    def read_detail(
        self, request: HttpRequest, reader: User | AnonymousUser, pk: int
    ) -> HttpResponse:
        result = get_or_load(user_key(pk), lambda: entries.user_detail(pk))
        entry = result.value
        if entry is None:
            return not_found("No user with this id.")
        themself = reader.is_authenticated and reader.pk == pk
        part = WITH_EMAIL if reader.is_staff or themself else PUBLIC
        return send(request, result, entry.parts[part], entry.etags[part])

    def perform_create(self, serializer: BaseSerializer[User]) -> None:
        """Save, then reload with ``post_count`` so the response is the full representation."""
        user = serializer.save()
        serializer.instance = selectors.users_with_counts().get(pk=user.pk)

    perform_update = perform_create


class TokenView(ObtainAuthToken):
    """``POST {"username", "password"}`` gives ``{"token"}``; failures count towards the login
    lockout (docs/security.md, "Login lockout")."""

    serializer_class = TokenRequestSerializer
    # The project's defaults, as every other view has them (bounded JSON); DRF's view sets its own.
    parser_classes = APIView.parser_classes
    throttle_classes = APIView.throttle_classes

    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = self.get_serializer(data=request.data)
        if not serializer.is_valid():
            data = request.data  # any JSON: a list, a string...
            refuse_if_locked_out(request, data.get("username") if isinstance(data, dict) else None)
            serializer.is_valid(raise_exception=True)
        user = serializer.validated_data["user"]
        # A success clears the count.
        user_logged_in.send(sender=type(user), request=request, user=user)
        token, _ = Token.objects.get_or_create(user=user)
        return Response({"token": token.key})
