from django.contrib.auth.password_validation import validate_password
from rest_framework import serializers

from users.models import User


class UserSerializer(serializers.ModelSerializer):
    """The user representation (SPEC 4). ``email`` is cached with it and removed per reader by
    ``users.views.visible``."""

    post_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = User
        fields = ["id", "username", "display_name", "bio", "date_joined", "post_count", "email"]
        read_only_fields = ["id", "date_joined", "post_count"]
        extra_kwargs = {"display_name": {"max_length": 150}, "email": {"required": False}}


class UserWriteSerializer(UserSerializer):
    """Create and update: the writable fields plus a write-only ``password``."""

    password = serializers.CharField(write_only=True, required=False, min_length=8, max_length=128, trim_whitespace=False)

    class Meta(UserSerializer.Meta):
        fields = UserSerializer.Meta.fields + ["password"]

    def validate(self, attrs: dict) -> dict:
        if self.instance is None and "password" not in attrs:
            raise serializers.ValidationError({"password": ["This field is required."]})
        return attrs

    def validate_password(self, value: str) -> str:
        validate_password(value)
        return value

    def create(self, validated_data: dict) -> User:
        password = validated_data.pop("password")
        user = User(**validated_data)
        user.set_password(password)
        user.save()
        return user

    def update(self, instance: User, validated_data: dict) -> User:
        password = validated_data.pop("password", None)
        for name, value in validated_data.items():
            setattr(instance, name, value)
        if password is not None:
            instance.set_password(password)
        instance.save()
        return instance
