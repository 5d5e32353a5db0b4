"""ORM writes that send no signals invalidate everything they affect (SPEC 1, 8.1), through
the default managers; raw SQL through ``caching.invalidating``."""

import pytest
from django.db import connection
from django.db.models import F, Value
from django.db.models.functions import Concat

import caching
from posts.models import Post
from tests.factories import make_post, make_user
from users.models import User

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def world(db):
    ada, bob = make_user(display_name="Ada"), make_user(display_name="Bob")
    posts = [make_post(ada, title=f"t{i}", category="redis") for i in range(3)]
    return ada, bob, posts


def views(ada, bob, posts):
    return (
        [f"/api/posts/{p.pk}/" for p in posts]
        + [
            "/api/posts/",
            "/api/posts/?category=redis",
            f"/api/posts/?author={ada.pk}",
            f"/api/posts/?author={bob.pk}",
        ]
        + [f"/api/users/{ada.pk}/", f"/api/users/{bob.pk}/", "/api/users/"]
    )


def warm(api, urls):
    for url in urls:
        api.get(url)
        assert api.get(url)["X-Cache"] == "HIT", url


def count(api, user):
    return api.get(f"/api/users/{user.pk}/").json()["post_count"]


def test_queryset_update_with_expression(api, world):
    ada, bob, posts = world
    warm(api, views(*world))
    assert Post.objects.filter(author=ada).update(title=Concat(F("title"), Value("!"))) == 3
    assert api.get(f"/api/posts/{posts[0].pk}/").json()["title"] == "t0!"
    assert all(
        p["title"].endswith("!") for p in api.get("/api/posts/?category=redis").json()["results"]
    )


def test_queryset_update_moving_posts_and_unpublishing(api, world):
    ada, bob, posts = world
    warm(api, views(*world))
    Post.objects.filter(pk=posts[0].pk).update(author=bob)
    Post.objects.filter(pk=posts[1].pk).update(status="draft")
    assert count(api, ada) == 1 and count(api, bob) == 1
    assert api.get(f"/api/posts/?author={bob.pk}").json()["count"] == 1
    assert api.get("/api/posts/").json()["count"] == 2
    assert api.get(f"/api/posts/{posts[0].pk}/").json()["author"]["display_name"] == "Bob"
    counts = {u["id"]: u["post_count"] for u in api.get("/api/users/").json()["results"]}
    assert counts[ada.pk] == 1 and counts[bob.pk] == 1


def test_related_manager_update(api, world):
    ada, bob, posts = world
    warm(api, views(*world))
    ada.posts.update(category="python")
    assert api.get("/api/posts/?category=redis").json()["count"] == 0
    assert api.get(f"/api/posts/{posts[2].pk}/").json()["category"] == "python"


def test_user_queryset_update_renames_embedded_author(api, world):
    ada, bob, posts = world
    warm(api, views(*world))
    User.objects.filter(pk=ada.pk).update(display_name="Ada L.")
    assert api.get(f"/api/posts/{posts[1].pk}/").json()["author"]["display_name"] == "Ada L."
    assert api.get("/api/posts/").json()["results"][0]["author"]["display_name"] == "Ada L."
    assert api.get(f"/api/users/{ada.pk}/").json()["display_name"] == "Ada L."


def test_queryset_delete(api, world):
    ada, bob, posts = world
    warm(api, views(*world))
    Post.objects.filter(pk__in=[posts[0].pk, posts[1].pk]).delete()
    assert api.get(f"/api/posts/{posts[0].pk}/").status_code == 404
    assert api.get("/api/posts/?category=redis").json()["count"] == 1
    assert count(api, ada) == 1


def test_queryset_delete_of_users_cascades(api, world):
    ada, bob, posts = world
    warm(api, views(*world))
    User.objects.filter(pk=ada.pk).delete()
    assert api.get(f"/api/posts/{posts[0].pk}/").status_code == 404
    assert api.get("/api/posts/").json()["count"] == 0
    assert api.get(f"/api/users/{ada.pk}/").status_code == 404


def test_bulk_create(api, world):
    ada, bob, posts = world
    warm(api, views(*world))
    Post.objects.bulk_create(
        [Post(author=bob, title=f"b{i}", category="redis", status="published") for i in range(2)]
    )
    assert count(api, bob) == 2
    assert api.get("/api/posts/?category=redis").json()["count"] == 5
    assert api.get(f"/api/posts/?author={bob.pk}").json()["count"] == 2
    User.objects.bulk_create([User(username="carol", display_name="Carol")])
    assert "carol" in [u["username"] for u in api.get("/api/users/").json()["results"]]


def test_bulk_update(api, world):
    ada, bob, posts = world
    warm(api, views(*world))
    for post in posts:
        post.title, post.author = post.title + "-x", bob
    Post.objects.bulk_update(posts, ["title", "author"])
    assert api.get(f"/api/posts/{posts[0].pk}/").json()["title"] == "t0-x"
    assert count(api, ada) == 0 and count(api, bob) == 3
    ada.display_name = "Ada B."
    User.objects.bulk_update([ada], ["display_name"])
    assert api.get(f"/api/users/{ada.pk}/").json()["display_name"] == "Ada B."


def test_raw_sql_through_invalidating(api, world):
    ada, bob, posts = world
    warm(api, views(*world))
    ids = [p.pk for p in posts[:2]]
    with caching.invalidating(Post, ids), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE posts_post SET status = 'draft', author_id = %s WHERE id = ANY(%s)",
            [bob.pk, ids],
        )
    assert count(api, ada) == 1 and count(api, bob) == 0
    assert api.get("/api/posts/").json()["count"] == 1
    assert api.get(f"/api/posts/{ids[0]}/").status_code == 404  # now a draft


def test_raw_sql_rolled_back_invalidates_nothing_and_keeps_data(api, world):
    ada, bob, posts = world
    warm(api, views(*world))
    with (
        pytest.raises(RuntimeError),
        caching.invalidating(Post, [posts[0].pk]),
        connection.cursor() as cursor,
    ):
        cursor.execute("UPDATE posts_post SET title = 'never' WHERE id = %s", [posts[0].pk])
        raise RuntimeError
    response = api.get(f"/api/posts/{posts[0].pk}/")
    assert response["X-Cache"] == "HIT" and response.json()["title"] == "t0"


def test_bulk_create_upsert_invalidates_what_it_overwrites(api, world):
    ada, bob, posts = world
    warm(api, views(*world))
    moved = Post(pk=posts[0].pk, author=bob, title="upserted", category="redis", status="published")
    Post.objects.bulk_create(
        [moved], update_conflicts=True, unique_fields=["id"], update_fields=["author", "title"]
    )
    assert count(api, ada) == 2 and count(api, bob) == 1  # the old author's count too
    assert api.get(f"/api/posts/{posts[0].pk}/").json()["title"] == "upserted"
