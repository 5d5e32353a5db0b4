"""Management commands: cache_flush, cache_stats, seed_demo, and their errors."""

import io
import json
import logging
import sys

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from caching.core import keys
from caching.core.rules import Changes
from caching.ops.progress import progress_bar
from caching.outbox.models import OutboxEntry
from posts.cache import post_key
from posts.models import Post
from tests.factories import make_post
from users.models import User

pytestmark = pytest.mark.django_db


@pytest.fixture
def cached_post(api, user, redis):
    post = make_post(user)
    api.get(f"/api/posts/{post.pk}/")
    api.get("/api/posts/")
    assert redis.exists(keys.physical(post_key(post.pk)))
    return post


def test_flush_one_namespace(cached_post, redis, capsys, api):
    call_command("cache_flush", "post")
    assert "post: removed 1 keys" in capsys.readouterr().out
    assert not redis.exists(keys.physical(post_key(cached_post.pk)))
    assert api.get("/api/posts/")["X-Cache"] == "HIT"


def test_flush_dry_run_removes_nothing(cached_post, redis, capsys):
    call_command("cache_flush", "post", "--dry-run")
    assert "post: would remove 1 keys" in capsys.readouterr().out
    assert redis.exists(keys.physical(post_key(cached_post.pk)))


def test_flush_all(cached_post, capsys, api):
    call_command("cache_flush", "--all")
    out = capsys.readouterr().out
    assert (
        "post: removed 1 keys" in out and "posts: removed 1 keys" in out and "user: removed" in out
    )
    assert api.get("/api/posts/")["X-Cache"] == "MISS"


@pytest.mark.parametrize("args", [["nope"], ["post", "nope"], ["post*"], ["*"], ["po?t"], []])
def test_flush_refuses_unknown_names_globs_and_no_names_removing_nothing(cached_post, redis, args):
    with pytest.raises(CommandError):
        call_command("cache_flush", *args)
    assert redis.exists(keys.physical(post_key(cached_post.pk)))


def test_flush_refuses_all_with_names(cached_post, redis):
    with pytest.raises(CommandError, match="not both"):
        call_command("cache_flush", "post", "--all")
    assert redis.exists(keys.physical(post_key(cached_post.pk)))


def test_unknown_namespace_exits_non_zero_from_the_shell(cached_post):
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "manage.py", "cache_flush", "nope"], capture_output=True, text=True
    )
    assert done.returncode != 0 and "unknown cache namespace" in done.stderr


def run(*args):
    """``call_command``; its stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def cache_posts(redis, count):
    pipe = redis.pipeline(transaction=False)
    for pk in range(1, count + 1):
        pipe.set(keys.physical(post_key(pk)), b"{}", ex=600)
    pipe.execute()


def test_flush_progress_bar_on_stderr_when_asked_stdout_as_without(redis):
    cache_posts(redis, 2500)  # three SCAN batches
    plain = run("cache_flush", "post")
    cache_posts(redis, 2500)
    shown = run("cache_flush", "post", "--progress")
    assert plain == ("post: removed 2500 keys\n", "")  # not a terminal: no bar unasked
    assert shown[0] == plain[0]
    assert "post: " in shown[1] and "2500 keys" in shown[1]
    cache_posts(redis, 10)
    assert run("cache_flush", "post", "--no-progress", "--dry-run") == (
        "post: would remove 10 keys\n",
        "",
    )


def test_replay_progress_bar_on_stderr_when_asked_stdout_as_without():
    rows = [Changes(drop={post_key(pk)}).payload() for pk in range(1, 1201)]
    OutboxEntry.objects.bulk_create(OutboxEntry(payload=payload) for payload in rows)
    out, err = run("cache_replay", "--progress")
    assert out == "delivered 1200 invalidations; 0 left\n"
    assert "outbox: 100%" in err and "1200/1200 [" in err and "invalidations/s" in err
    assert run("cache_replay") == ("delivered 0 invalidations; 0 left\n", "")


def test_a_log_line_during_the_bar_goes_above_it_not_into_it(capsys):
    handler = logging.StreamHandler(sys.stderr)  # the console, as the logging config gives it
    logging.getLogger("caching").addHandler(handler)
    try:
        with progress_bar({"progress": True}, desc="post", unit="keys") as update:
            update(1000)
            logging.getLogger("caching").warning("event=something")
        assert logging.getLogger("caching").handlers[-1] is handler  # put back
    finally:
        logging.getLogger("caching").removeHandler(handler)
    err = capsys.readouterr().err
    line = next(part for part in err.split("\r") if "event=something" in part)
    assert line.startswith("event=something\n")  # the bar was cleared first, drawn again after


def test_stats_table_json_and_reset(cached_post, api, capsys):
    api.get(f"/api/posts/{cached_post.pk}/")
    call_command("cache_stats", "--json")
    stats = json.loads(capsys.readouterr().out)
    assert stats["namespaces"]["post"] == {
        "hits": 1,
        "misses": 1,
        "hit_rate": 0.5,
        "loads": 1,
        "stale": 0,
        "keys": 1,
    }
    call_command("cache_stats", "--reset")
    out = capsys.readouterr().out
    assert "post" in out and "50.00%" in out and "counters reset" in out
    call_command("cache_stats", "--json")
    assert json.loads(capsys.readouterr().out)["total"]["hits"] == 0


def test_seed_demo_creates_users_and_posts_and_no_known_superuser_in_production(db):
    call_command("seed_demo", "--users", "30", "--posts", "300", "--seed", "1")
    assert User.objects.filter(username__startswith="demo-").count() == 30
    assert Post.objects.count() == 300
    assert not User.objects.filter(
        username="admin"
    ).exists()  # DEBUG is off: no admin / admin-password


def test_seed_demo_leaves_the_planner_statistics_of_what_it_seeded(db):
    call_command("seed_demo", "--users", "3", "--posts", "40", "--seed", "1")
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE oid = 'posts_post'::regclass")
        assert cursor.fetchone() == (40,)


def test_seed_demo_creates_the_demo_superuser_only_in_debug(db, settings):
    settings.DEBUG = True
    call_command("seed_demo", "--users", "1", "--posts", "0")
    admin = User.objects.get(username="admin")
    assert admin.is_superuser and admin.check_password("admin-password")


def test_seed_demo_rejects_bad_sizes(db):
    with pytest.raises(CommandError):
        call_command("seed_demo", "--users", "0")


def test_seed_demo_if_empty_seeds_once(db):
    call_command("seed_demo", "--users", "2", "--posts", "5", "--if-empty")
    call_command("seed_demo", "--users", "2", "--posts", "5", "--if-empty")
    assert Post.objects.count() == 5
