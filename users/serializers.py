import copy
from typing import Any

from django.contrib.auth import authenticate
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers
from rest_framework.authtoken.serializers import AuthTokenSerializer

from users.lockout import refuse_if_locked_out
from users.models import User


class UserSerializer(serializers.ModelSerializer[User]):
    """The user representation (SPEC 4). The cached entry holds it with and without ``email``
    (``users.entries``); ``users.views.UserViewSet`` picks the part each reader may see."""

    # An annotation the posts app registers (users.selectors.ROW_COUNTS): needs posts installed.
    post_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = User
        fields = ["id", "username", "display_name", "bio", "date_joined", "post_count", "email"]
        read_only_fields = ["id", "date_joined", "post_count"]
        extra_kwargs = {"display_name": {"max_length": 150}, "email": {"required": False}}


class UserWriteSerializer(UserSerializer):
    """Create and update, with a write-only ``password`` (the project's validators); a user
    changing their own also sends ``current_password`` (SPEC 10.5)."""

    password = serializers.CharField(
        write_only=True, required=False, max_length=128, trim_whitespace=False
    )
    current_password = serializers.CharField(
        write_only=True, required=False, max_length=128, trim_whitespace=False
    )

    class Meta(UserSerializer.Meta):
        fields = UserSerializer.Meta.fields + ["password", "current_password"]

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        current = attrs.pop("current_password", None)
        if "password" not in attrs:
            if self.instance is None:
                raise serializers.ValidationError({"password": ["This field is required."]})
            return attrs
        user, request = self.instance, self.context.get("request")
        if user is not None and request is not None and user.pk == request.user.pk:
            if current is None:
                raise serializers.ValidationError(
                    {"current_password": ["Required to change your own password."]}
                )
            # Checked as a login, so that guesses count towards the lockout (users.lockout).
            username = user.get_username()
            if authenticate(request, username=username, password=current) is None:
                refuse_if_locked_out(request, username)
                raise serializers.ValidationError({"current_password": ["Wrong password."]})
        # Similarity is judged against the account as it will be (new username, email...).
        subject = copy.copy(user) if user is not None else User()
        for name, value in attrs.items():
            if name != "password":
                setattr(subject, name, value)
        try:
            validate_password(attrs["password"], user=subject)
        except DjangoValidationError as error:
            raise serializers.ValidationError({"password": list(error.messages)}) from None
        return attrs

    def create(self, validated_data: dict[str, Any]) -> User:
        password = validated_data.pop("password")
        user = User(**validated_data)
        user.set_password(password)
        user.save()
        return user

    def update(self, instance: User, validated_data: dict[str, Any]) -> User:
        password = validated_data.pop("password", None)
        for name, value in validated_data.items():
            setattr(instance, name, value)
        if password is not None:
            instance.set_password(password)
        instance.save()
        return instance


class TokenRequestSerializer(AuthTokenSerializer):
    """DRF's login serializer with bounded fields: an unbounded username would reach the
    lockout's table (``varchar(255)``) as a 500."""

    username = serializers.CharField(label="Username", write_only=True, max_length=150)
    password = serializers.CharField(
        label="Password",
        write_only=True,
        max_length=4096,
        style={"input_type": "password"},
        trim_whitespace=False,
    )
