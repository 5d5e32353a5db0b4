"""Small factories for test data."""

import itertools

from posts.models import Post
from users.models import User

_seq = itertools.count(1)
PASSWORD = "test-password-1"


def make_user(**fields) -> User:
    n = next(_seq)
    fields.setdefault("username", f"user{n}")
    fields.setdefault("email", f"user{n}@example.com")
    fields.setdefault("display_name", f"User {n}")
    password = fields.pop("password", PASSWORD)
    user = User(**fields)
    user.set_password(password)
    user.save()
    return user


def make_post(author: User, **fields) -> Post:
    n = next(_seq)
    fields.setdefault("title", f"Post {n}")
    fields.setdefault("body", f"Body {n}")
    fields.setdefault("category", "django")
    fields.setdefault("status", Post.Status.PUBLISHED)
    return Post.objects.create(author=author, **fields)
