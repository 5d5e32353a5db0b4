from django.conf import settings
from django.core.validators import MinLengthValidator
from django.db import models
from django.db.models.functions import Length
from django.db.models.lookups import LessThanOrEqual

from caching import InvalidatingModel, InvalidatingQuerySet

BODY_MAX_LENGTH = 20_000


def _published_recent(name: str, *by: str) -> models.Index:
    """Published posts, newest first, optionally by ``by``."""
    return models.Index(
        fields=[*by, "-created_at", "-id"], name=name, condition=models.Q(status="published")
    )


class Post(InvalidatingModel):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        PUBLISHED = "published", "Published"

    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="posts"
    )
    title = models.CharField(max_length=200, validators=[MinLengthValidator(1)])
    body = models.TextField(blank=True, max_length=BODY_MAX_LENGTH)
    category = models.SlugField(max_length=50)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    created_at = models.DateTimeField(auto_now_add=True, db_index=False)
    updated_at = models.DateTimeField(auto_now=True)

    objects = InvalidatingQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=LessThanOrEqual(Length("body"), BODY_MAX_LENGTH),
                name="post_body_max_length",
            ),
        ]
        indexes = [
            # One index per list query (SPEC 5), partial: lists only ever show published posts.
            _published_recent("post_published_recent"),
            _published_recent("post_author_recent", "author"),
            _published_recent("post_category_recent", "category"),
            models.Index(fields=["author", "status"], name="post_author_status"),
        ]

    def __str__(self) -> str:
        return self.title
