from django.conf import settings
from django.core.validators import MinLengthValidator
from django.db import models
from django.db.models.functions import Length
from django.db.models.lookups import LessThanOrEqual

from caching import InvalidatingModel, InvalidatingQuerySet

BODY_MAX_LENGTH = 20_000


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
            # One index per list query (SPEC 5): published posts, newest first, optionally by
            # author and/or category. Partial on status, since lists only ever show published.
            models.Index(
                fields=["-created_at", "-id"],
                name="post_published_recent",
                condition=models.Q(status="published"),
            ),
            models.Index(
                fields=["author", "-created_at", "-id"],
                name="post_author_recent",
                condition=models.Q(status="published"),
            ),
            models.Index(
                fields=["category", "-created_at", "-id"],
                name="post_category_recent",
                condition=models.Q(status="published"),
            ),
            models.Index(fields=["author", "status"], name="post_author_status"),
        ]

    def __str__(self) -> str:
        return self.title
