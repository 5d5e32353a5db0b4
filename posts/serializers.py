from rest_framework import serializers

from api.params import MAX_PK, PageQuery
from posts.models import Post
from users.models import User


class AuthorSerializer(serializers.ModelSerializer[User]):
    class Meta:
        model = User
        fields = ["id", "username", "display_name"]


class PostSerializer(serializers.ModelSerializer[Post]):
    author = AuthorSerializer(read_only=True)
    title = serializers.CharField(min_length=1, max_length=200)
    category = serializers.SlugField(min_length=1, max_length=50)

    class Meta:
        model = Post
        fields = ["id", "title", "body", "category", "status", "author", "created_at", "updated_at"]
        read_only_fields = ["id", "author", "created_at", "updated_at"]


class PostListQuery(PageQuery):
    """The list's query parameters; anything malformed is a 400 naming the parameter."""

    author = serializers.IntegerField(min_value=1, max_value=MAX_PK, required=False)
    category = serializers.SlugField(min_length=1, max_length=50, required=False)
