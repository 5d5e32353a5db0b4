import json

from django.contrib.auth.signals import user_logged_in
from drf_spectacular.utils import extend_schema
from rest_framework import viewsets
from rest_framework.authtoken.models import Token
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.exceptions import Throttled
from rest_framework.response import Response
from rest_framework.settings import api_settings

from api.params import PageQuery, query
from api.reads import CachedReadsMixin
from api.responses import not_found, page_body, render, send
from caching import etag, get_or_load
from users import selectors
from users.cache import user_key, users_page_key
from users.lockout import LOCKED_OUT, retry_after
from users.permissions import IsSelfOrStaff
from users.selectors import PUBLIC, WITH_EMAIL, without_email
from users.serializers import TokenRequestSerializer, UserSerializer, UserWriteSerializer


class UserViewSet(CachedReadsMixin, viewsets.ModelViewSet):
    """Users. Reads are served from the cache service (``read_*``); writes go through DRF and
    invalidate through the model signals. Emails only for the user themself and staff."""

    permission_classes = [IsSelfOrStaff]

    def get_serializer_class(self):
        return UserSerializer if self.action in ("list", "retrieve") else UserWriteSerializer

    def get_queryset(self):
        return selectors.users_with_counts()

    @extend_schema(parameters=[PageQuery], responses=UserSerializer(many=True))
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(responses=UserSerializer)
    def retrieve(self, request, *args, **kwargs):
        return super().retrieve(request, *args, **kwargs)

    def read_list(self, request, reader):
        params, error = query(PageQuery, request)
        if error:
            return error
        number = params["page"]
        result = get_or_load(users_page_key(number), lambda: selectors.user_page(number))
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
            return send(
                request,
                result,
                page_body(request, entry, params, body),
                etag(entry.etags[PUBLIC].encode(), body),
            )
        else:
            part = PUBLIC
        return send(
            request, result, page_body(request, entry, params, entry.parts[part]), entry.etags[part]
        )

    def read_detail(self, request, reader, pk):
        result = get_or_load(user_key(pk), lambda: selectors.user_detail(pk))
        entry = result.value
        if entry is None:
            return not_found("No user with this id.")
        part = (
            WITH_EMAIL
            if reader.is_staff or (reader.is_authenticated and reader.pk == pk)
            else PUBLIC
        )
        return send(request, result, entry.parts[part], entry.etags[part])

    def perform_create(self, serializer):
        self._save_and_reload(serializer)

    def perform_update(self, serializer):
        self._save_and_reload(serializer)

    @staticmethod
    def _save_and_reload(serializer):
        """Save, then reload with ``post_count`` so the response is the full representation."""
        serializer.save()
        serializer.instance = selectors.users_with_counts().get(pk=serializer.instance.pk)


class TokenView(ObtainAuthToken):
    """``POST {"username", "password"}`` gives ``{"token"}``. Failures count towards the login
    lockout (``users.lockout``), shared with the admin login: a locked-out username and address
    get a 429 with ``Retry-After``, even with the right password, and no password is hashed."""

    serializer_class = TokenRequestSerializer
    parser_classes = api_settings.DEFAULT_PARSER_CLASSES  # bounded JSON (DRF's view sets its own)
    throttle_classes = api_settings.DEFAULT_THROTTLE_CLASSES

    def post(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        if not serializer.is_valid():
            if getattr(request, "axes_locked_out", False):  # set by axes on this request
                raise Throttled(
                    wait=retry_after(request, {"username": request.data.get("username")}),
                    detail=LOCKED_OUT,
                )
            serializer.is_valid(raise_exception=True)
        user = serializer.validated_data["user"]
        user_logged_in.send(
            sender=type(user), request=request, user=user
        )  # a success clears the count
        token, _ = Token.objects.get_or_create(user=user)
        return Response({"token": token.key})
