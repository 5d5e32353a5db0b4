"""``seed_demo``: demo users and posts by bulk inserts, with the planner's statistics."""

import random
import secrets
from collections.abc import Callable
from typing import Any, TypeVar

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, models, transaction
from tqdm import tqdm

from posts.models import Post
from users.models import User

CATEGORIES = ["django", "python", "redis", "postgres", "caching", "devops", "testing", "news"]
DEMO_PASSWORD = "demo-password"
BATCH = 2000

M = TypeVar("M", bound=models.Model)


class Command(BaseCommand):
    help = (
        f"Create demo users (password {DEMO_PASSWORD!r}) and posts with bulk inserts, and, with "
        "DJANGO_DEBUG=true only, a superuser 'admin' (password 'admin-password') if there is none."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--users", type=int, default=50)
        parser.add_argument("--posts", type=int, default=500)
        parser.add_argument("--seed", type=int, help="random seed, for repeatable data")
        parser.add_argument(
            "--if-empty", action="store_true", help="do nothing if there are posts already"
        )

    def handle(
        self, *args: Any, users: int, posts: int, seed: int | None, if_empty: bool, **options: Any
    ) -> None:
        if users < 1 or posts < 0:
            raise CommandError("--users must be at least 1 and --posts at least 0")
        if if_empty and Post.objects.exists():
            self.stdout.write("posts exist already: nothing seeded")
            return
        rng = random.Random(seed)
        tag = secrets.token_hex(3)
        password = make_password(DEMO_PASSWORD)  # hashed once: hashing per user would dominate
        with transaction.atomic():
            if settings.DEBUG and not User.objects.filter(username="admin").exists():
                # Known credentials only on a development server (SPEC 10.9).
                User.objects.create_superuser(
                    "admin", "admin@example.com", "admin-password", display_name="Admin"
                )
            created_users = self._bulk(
                User,
                users,
                lambda i: User(
                    username=f"demo-{tag}-{i}",
                    email=f"demo-{tag}-{i}@example.com",
                    password=password,
                    display_name=f"Demo {i}",
                    bio=f"Demo user {i}.",
                ),
            )
            author_ids = [user.pk for user in created_users]
            self._bulk(
                Post,
                posts,
                lambda i: Post(
                    author_id=rng.choice(author_ids),
                    title=f"Demo post {i}",
                    body=f"Body of demo post {i}.",
                    category=rng.choice(CATEGORIES),
                    status=Post.Status.PUBLISHED if rng.random() < 0.8 else Post.Status.DRAFT,
                ),
            )
        # Statistics now, not at autovacuum's next visit (never, where it is off): without them
        # the planner takes the published posts for a few rows and sorts all of them for a list
        # page (docs/benchmarks.md, "Lists without the cache").
        tables = ", ".join(connection.ops.quote_name(m._meta.db_table) for m in (User, Post))
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {tables}")
        self.stdout.write(self.style.SUCCESS(f"created {users} users and {posts} posts"))

    def _bulk(self, model: type[M], total: int, make: Callable[[int], M]) -> list[M]:
        """``make(0)`` to ``make(total - 1)``, inserted in batches of ``BATCH``."""
        label = str(model._meta.verbose_name_plural)  # "users", "posts"
        created: list[M] = []
        with tqdm(total=total, desc=label, unit=label, disable=total == 0, file=self.stderr) as bar:
            for start in range(0, total, BATCH):
                batch = [make(i) for i in range(start, min(start + BATCH, total))]
                created += model._default_manager.bulk_create(batch)
                bar.update(len(batch))
        return created
