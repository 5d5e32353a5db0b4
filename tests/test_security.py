"""Safe on the open internet (SPEC 10), end to end against the production server
as a client sees it."""

import json
import re
import time
from datetime import timedelta

import pytest
import requests
from axes.models import AccessAttempt
from django.db.models import F
from rest_framework.authtoken.models import Token

from posts.models import Post
from tests.factories import PASSWORD, make_post, make_user
from users.lockout import LOCKED_OUT

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]

JSON = {"Content-Type": "application/json"}
TIMEOUT = 60  # generous: a slow answer on a loaded machine is not a failure


def token_for(user) -> dict:
    return {"Authorization": f"Token {Token.objects.get_or_create(user=user)[0].key}"}


def assert_json_error(response, status: int) -> dict:
    assert response.status_code == status, (response.status_code, response.text[:300])
    assert response.headers["Content-Type"].startswith("application/json"), response.headers[
        "Content-Type"
    ]
    body = response.json()
    assert body["detail"], body
    assert "Traceback" not in response.text and "SECRET_KEY" not in response.text
    return body


@pytest.fixture
def server(live):
    return live()  # as in production: tests.live.LiveServer leaves DJANGO_DEBUG unset


# 10.1 fail closed, 10.6 bounded input


def test_unknown_urls_malformed_ids_and_format_suffixes_are_json_404s_without_debug(server, user):
    post = make_post(user)
    for path in (
        "/api/nope/",
        "/api/posts/1.5/",
        f"/api/posts/{post.pk}.json",
        f"/api/posts/{post.pk}.5/",
        "/api/users/abc/",
        "/api/posts/%C2%B2/",
        "/api/posts.json",
        "/api/cache/nope/",
    ):
        assert_json_error(requests.get(server.url + path, timeout=TIMEOUT), 404)
    assert_json_error(requests.post(server.url + "/api/nope/", json={}, timeout=TIMEOUT), 404)
    browser = {"Accept": "text/html,application/xhtml+xml"}  # no browsable API: JSON all the same
    assert_json_error(
        requests.delete(server.url + "/api/posts/", headers=browser, timeout=TIMEOUT), 401
    )
    assert_json_error(
        requests.get(
            server.url + "/api/posts/999999/?format=api", headers=browser, timeout=TIMEOUT
        ),
        404,
    )
    assert (
        requests.get(
            server.url + "/api/posts/?format=api", headers=browser, timeout=TIMEOUT
        ).headers["Content-Type"]
        == "application/json"
    )
    assert (
        requests.options(server.url + "/api/posts/", headers=browser, timeout=TIMEOUT).headers[
            "Content-Type"
        ]
        == "application/json"
    )
    slashless = requests.get(server.url + "/api/health?x=1", allow_redirects=False, timeout=TIMEOUT)
    assert slashless.status_code == 301 and slashless.headers["Location"] == "/api/health/?x=1"
    html = requests.get(server.url + "/no-such-page/", timeout=TIMEOUT)
    assert (
        html.status_code == 404 and "Traceback" not in html.text and "urlpatterns" not in html.text
    )


@pytest.mark.parametrize("depth", [5_000, 100_000])
def test_json_nested_deeper_than_python_parses_is_a_400(server, user, depth):
    body = "[" * depth
    assert_json_error(
        requests.post(server.url + "/api/auth/token/", data=body, headers=JSON, timeout=TIMEOUT),
        400,
    )
    nested = "[" * depth + "]" * depth
    response = requests.post(
        server.url + "/api/posts/",
        data=nested,
        headers={**JSON, **token_for(user)},
        timeout=TIMEOUT,
    )
    assert_json_error(response, 400)
    assert Post.objects.count() == 0


def test_a_body_over_one_mebibyte_is_a_413_and_changes_nothing(server, user):
    body = '{"title": "big", "category": "x", "body": "' + "x" * (2 * 1024 * 1024) + '"}'
    response = requests.post(
        server.url + "/api/posts/", data=body, headers={**JSON, **token_for(user)}, timeout=TIMEOUT
    )
    assert_json_error(response, 413)
    assert Post.objects.count() == 0


def test_an_over_long_login_is_a_400_naming_the_field(server):
    response = requests.post(
        server.url + "/api/auth/token/",
        json={"username": "u" * 1000, "password": "p"},
        timeout=TIMEOUT,
    )
    assert response.status_code == 400 and "username" in response.json()


def test_over_long_body_and_bio_are_400s_naming_the_field(server, user):
    headers = token_for(user)
    response = requests.post(
        server.url + "/api/posts/",
        json={"title": "t", "category": "c", "body": "x" * 20_001},
        headers=headers,
        timeout=TIMEOUT,
    )
    assert response.status_code == 400 and "body" in response.json()
    ok = requests.post(
        server.url + "/api/posts/",
        json={"title": "t", "category": "c", "body": "x" * 20_000},
        headers=headers,
        timeout=TIMEOUT,
    )
    assert ok.status_code == 201
    response = requests.patch(
        f"{server.url}/api/users/{user.pk}/",
        json={"bio": "y" * 1_001},
        headers=headers,
        timeout=TIMEOUT,
    )
    assert response.status_code == 400 and "bio" in response.json()
    user.refresh_from_db()
    assert user.bio == ""


def test_a_crash_is_a_json_500_logged_with_method_and_path(server, user, redis, cache_prefix):
    """A wrong-typed value under a post's key makes the READ script fail with WRONGTYPE: a bug,
    which the cache layer raises rather than hides."""
    from caching.core import keys
    from posts.cache import post_key

    post = make_post(user)  # cached at once (write-through): replace the entry
    redis.unlink(keys.physical(post_key(post.pk)))
    redis.hset(keys.physical(post_key(post.pk)), "not", "a string")
    assert_json_error(requests.get(f"{server.url}/api/posts/{post.pk}/", timeout=TIMEOUT), 500)
    errors = [
        line
        for line in map(json.loads, server.log.read_text().splitlines())
        if line["logger"] == "django.request"
    ]
    assert [(e["level"], e["method"], e["path"]) for e in errors] == [
        ("ERROR", "GET", f"/api/posts/{post.pk}/")
    ]
    assert "Traceback" in errors[0]["exc_info"] and "WRONGTYPE" in errors[0]["exc_info"]


# 10.3 logins


def login(server, username, password, **headers):
    return requests.post(
        server.url + "/api/auth/token/",
        json={"username": username, "password": password},
        headers=headers,
        timeout=TIMEOUT,
    )


def admin_login(server, username, password):
    """The admin's login form, as a browser posts it (with its CSRF token)."""
    session = requests.Session()
    page = session.get(server.url + "/admin/login/", timeout=TIMEOUT)
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    return session.post(
        server.url + "/admin/login/?next=/admin/",
        data={"username": username, "password": password, "csrfmiddlewaretoken": csrf},
        headers={"Referer": server.url + "/admin/login/"},
        allow_redirects=False,
        timeout=TIMEOUT,
    )


@pytest.fixture
def lockout_server(live):
    return live(env={"AUTH_FAILURE_LIMIT": "3", "AUTH_LOCKOUT_SECONDS": "600"})


def test_the_limit_locks_a_username_out_even_with_the_right_password(lockout_server):
    alice = make_user(username="alice")
    make_user(username="bob", is_staff=True)
    assert login(lockout_server, "alice", PASSWORD).status_code == 200
    for _ in range(2):
        assert login(lockout_server, "alice", "wrong").status_code == 400
    # The third failure comes from the admin's form: both doors share one count, and the failure
    # that reaches the limit is answered with the lockout.
    assert admin_login(lockout_server, "alice", "wrong").status_code == 429
    locked = login(lockout_server, "alice", PASSWORD)
    body = assert_json_error(locked, 429)
    assert "Too many failed login attempts" in body["detail"]
    assert 0 < int(locked.headers["Retry-After"]) <= 600
    assert admin_login(lockout_server, "alice", PASSWORD).status_code == 429
    assert login(lockout_server, "bob", PASSWORD).status_code == 200  # another user, same address
    assert admin_login(lockout_server, "bob", PASSWORD).status_code == 302
    assert alice.auth_token.key  # earlier logins worked; the lockout did not touch the account


def test_a_success_before_the_limit_resets_the_count(lockout_server):
    make_user(username="carol")
    for _ in range(3):  # two failures and a success, three times: 6 failures, never 3 in a row
        assert login(lockout_server, "carol", "wrong").status_code == 400
        assert login(lockout_server, "carol", "wrong").status_code == 400
        assert login(lockout_server, "carol", PASSWORD).status_code == 200


def test_an_address_failing_across_usernames_is_locked_out_as_a_whole(lockout_server):
    make_user(username="dave")
    for n in range(29):  # 10 x AUTH_FAILURE_LIMIT = 30: not yet
        assert login(lockout_server, f"nobody{n}", "wrong").status_code == 400
    assert login(lockout_server, "dave", PASSWORD).status_code == 200
    reaching = login(lockout_server, "nobody29", "wrong")  # the 30th: refused by the token view
    assert assert_json_error(reaching, 429) == {"detail": LOCKED_OUT}
    assert 0 < int(reaching.headers["Retry-After"]) <= 600
    # Locked before it began: refused by axes; the same body.
    assert assert_json_error(login(lockout_server, "dave", PASSWORD), 429) == {"detail": LOCKED_OUT}
    # The lockout is per address: behind no proxy, a forged X-Forwarded-For changes nothing.
    assert (
        login(lockout_server, "dave", PASSWORD, **{"X-Forwarded-For": "203.0.113.9"}).status_code
        == 429
    )


def test_wrong_current_passwords_count_towards_the_lockout(lockout_server):
    frank = make_user(username="frank")
    url = f"{lockout_server.url}/api/users/{frank.pk}/"
    guess = {"password": "Another-long-passphrase-9", "current_password": "guess"}
    for _ in range(2):
        assert (
            "current_password"
            in requests.patch(url, json=guess, headers=token_for(frank), timeout=TIMEOUT).json()
        )
    assert_json_error(
        requests.patch(url, json=guess, headers=token_for(frank), timeout=TIMEOUT), 429
    )
    assert login(lockout_server, "frank", PASSWORD).status_code == 429


def test_a_lockout_ends_after_its_time_and_is_per_forwarded_address_behind_a_proxy(live):
    make_user(username="gina")
    lockout = 600  # long: nothing below must happen within it (each login hashes a password)
    server = live(
        env={
            "AUTH_FAILURE_LIMIT": "2",
            "AUTH_LOCKOUT_SECONDS": str(lockout),
            "DJANGO_PROXY_COUNT": "1",
        }
    )
    attacker, colleague = (
        {"X-Forwarded-For": "198.51.100.7"},
        {"X-Forwarded-For": "203.0.113.5, 198.51.100.8"},
    )
    assert login(server, "gina", "wrong", **attacker).status_code == 400
    locked = login(server, "gina", "wrong", **attacker)
    assert locked.status_code == 429 and 0 < int(locked.headers["Retry-After"]) <= lockout
    assert login(server, "gina", PASSWORD, **attacker).status_code == 429
    assert (
        login(server, "gina", PASSWORD, **colleague).status_code == 200
    )  # another client behind the proxy
    # The lockout's time passes without a wait: its failures are made that much older, as the
    # clock would make them (the server reads this test's database).
    AccessAttempt.objects.update(attempt_time=F("attempt_time") - timedelta(seconds=lockout))
    assert login(server, "gina", PASSWORD, **attacker).status_code == 200


def test_logins_work_and_lock_out_while_redis_is_down(live, private_redis):
    make_user(username="erin")
    server = live(env={"REDIS_URL": private_redis.url, "AUTH_FAILURE_LIMIT": "2"})
    private_redis.kill()
    began = time.monotonic()
    assert login(server, "erin", PASSWORD).status_code == 200
    assert login(server, "erin", "wrong").status_code == 400
    assert login(server, "erin", "wrong").status_code == 429
    assert login(server, "erin", PASSWORD).status_code == 429
    assert time.monotonic() - began < 30


# 10.4 write throttling


def test_the_write_over_the_rate_is_a_429_staff_exempt_reads_untouched(live, user, staff):
    server = live(env={"API_WRITE_RATE": "5/minute"})
    post = {"title": "t", "category": "c", "status": "published"}
    for _ in range(5):
        assert (
            requests.post(
                server.url + "/api/posts/", json=post, headers=token_for(user), timeout=TIMEOUT
            ).status_code
            == 201
        )
    over = requests.post(
        server.url + "/api/posts/", json=post, headers=token_for(user), timeout=TIMEOUT
    )
    assert_json_error(over, 429)
    assert 0 < int(over.headers["Retry-After"]) <= 60
    assert Post.objects.filter(author=user).count() == 5
    for _ in range(7):
        assert (
            requests.post(
                server.url + "/api/posts/", json=post, headers=token_for(staff), timeout=TIMEOUT
            ).status_code
            == 201
        )
    for _ in range(20):
        assert (
            requests.get(
                server.url + "/api/posts/", headers=token_for(user), timeout=TIMEOUT
            ).status_code
            == 200
        )
    # Anonymous writes (the token endpoint) count per address; a forged X-Forwarded-For is no
    # new address when no proxy is configured.
    statuses = [
        login(server, f"nobody{n}", "x", **{"X-Forwarded-For": f"192.0.2.{n}"}).status_code
        for n in range(6)
    ]
    assert statuses[:5] == [400] * 5 and statuses[5] == 429


def test_the_write_throttle_fails_open_while_redis_is_down(live, private_redis, user):
    server = live(env={"REDIS_URL": private_redis.url, "API_WRITE_RATE": "2/minute"})
    private_redis.kill()
    post = {"title": "t", "category": "c"}
    for _ in range(4):
        assert (
            requests.post(
                server.url + "/api/posts/", json=post, headers=token_for(user), timeout=TIMEOUT
            ).status_code
            == 201
        )


# 10.5 accounts


@pytest.fixture
def accounts(db):
    return {
        "root": make_user(username="root", is_staff=True, is_superuser=True),
        "staff": make_user(username="staffer", is_staff=True),
        "other_staff": make_user(username="other-staffer", is_staff=True),
        "plain": make_user(username="plain"),
    }


def test_staff_cannot_touch_staff_or_superusers_or_set_passwords(server, accounts):
    staff = token_for(accounts["staff"])

    def patch(target, body, headers=staff):
        return requests.patch(
            f"{server.url}/api/users/{accounts[target].pk}/",
            json=body,
            headers=headers,
            timeout=TIMEOUT,
        )

    assert_json_error(patch("root", {"password": "Another-long-passphrase-9"}), 403)
    assert_json_error(patch("root", {"display_name": "pwned"}), 403)
    assert_json_error(patch("other_staff", {"display_name": "pwned"}), 403)
    assert_json_error(
        requests.delete(
            f"{server.url}/api/users/{accounts['root'].pk}/", headers=staff, timeout=TIMEOUT
        ),
        403,
    )
    assert_json_error(patch("plain", {"password": "Another-long-passphrase-9"}), 403)
    assert patch("plain", {"display_name": "Renamed"}).status_code == 200
    accounts["root"].refresh_from_db()
    assert accounts["root"].check_password(PASSWORD) and accounts["root"].display_name != "pwned"
    assert admin_login(server, "root", "Another-long-passphrase-9").status_code == 200  # no way in
    # A superuser may set another user's password; that user's tokens are revoked.
    plain_token = token_for(accounts["plain"])
    assert (
        patch(
            "plain", {"password": "Another-long-passphrase-9"}, token_for(accounts["root"])
        ).status_code
        == 200
    )
    assert (
        requests.get(server.url + "/api/posts/", headers=plain_token, timeout=TIMEOUT).status_code
        == 401
    )


def test_changing_ones_own_password_needs_the_current_one_and_a_strong_new_one(server, accounts):
    user = accounts["plain"]
    old_token = token_for(user)
    url = f"{server.url}/api/users/{user.pk}/"

    def change(**body):
        return requests.patch(url, json=body, headers=old_token, timeout=TIMEOUT)

    assert "current_password" in change(password="Another-long-passphrase-9").json()
    assert (
        "current_password"
        in change(password="Another-long-passphrase-9", current_password="wrong").json()
    )
    for weak in ("short1", "password123", "84736291045", "plain1234"):
        response = change(password=weak, current_password=PASSWORD)
        assert response.status_code == 400 and "password" in response.json(), weak
    assert (
        requests.get(server.url + "/api/posts/", headers=old_token, timeout=TIMEOUT).status_code
        == 200
    )
    assert (
        change(password="Another-long-passphrase-9", current_password=PASSWORD).status_code == 200
    )
    assert (
        requests.get(server.url + "/api/posts/", headers=old_token, timeout=TIMEOUT).status_code
        == 401
    )
    assert login(server, "plain", "Another-long-passphrase-9").status_code == 200


def test_a_password_changed_in_the_admin_or_by_changepassword_revokes_tokens(server, accounts):
    import os
    import pty
    import sys

    from tests.live import ROOT

    user, root = accounts["plain"], accounts["root"]
    session = requests.Session()
    page = session.get(server.url + "/admin/login/", timeout=TIMEOUT)
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    session.post(
        server.url + "/admin/login/?next=/admin/",
        data={"username": "root", "password": PASSWORD, "csrfmiddlewaretoken": csrf},
        headers={"Referer": server.url + "/admin/login/"},
        timeout=TIMEOUT,
    )
    form_url = f"{server.url}/admin/users/user/{user.pk}/password/"
    form = session.get(form_url, timeout=TIMEOUT)
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text).group(1)
    before = token_for(user)
    done = session.post(
        form_url,
        data={
            "password1": "Admin-set-passphrase-7",
            "password2": "Admin-set-passphrase-7",
            "usable_password": "true",
            "csrfmiddlewaretoken": csrf,
        },
        headers={"Referer": form_url},
        allow_redirects=False,
        timeout=TIMEOUT,
    )
    assert done.status_code == 302, done.text[-500:]
    assert (
        requests.get(server.url + "/api/posts/", headers=before, timeout=TIMEOUT).status_code == 401
    )

    # manage.py changepassword reads the password from a terminal: give it one.
    before = token_for(root)
    pid, terminal = pty.fork()
    if pid == 0:
        os.chdir(ROOT)
        os.execve(
            sys.executable,
            [sys.executable, "manage.py", "changepassword", "root"],
            {**os.environ, **server.env},
        )
    output = b""
    for _ in range(2):
        while b"assword" not in output.rsplit(b"\n", 1)[-1]:
            output += os.read(terminal, 1024)
        os.write(terminal, b"Terminal-set-passphrase-3\n")
        output = b""
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert (
        requests.get(server.url + "/api/posts/", headers=before, timeout=TIMEOUT).status_code == 401
    )


# 10.2 HTTPS behind a proxy, 10.8 weak ETags


def test_https_behind_a_proxy(live, user):
    for n in range(25):
        make_post(user, title=f"p{n}")
    server = live(env={"DJANGO_HTTPS": "true"})
    plain = requests.get(server.url + "/api/posts/", allow_redirects=False, timeout=TIMEOUT)
    assert plain.status_code == 301 and plain.headers["Location"].startswith("https://")
    assert (
        requests.get(
            server.url + "/api/health/", allow_redirects=False, timeout=TIMEOUT
        ).status_code
        == 200
    )
    assert (
        requests.get(server.url + "/metrics", allow_redirects=False, timeout=TIMEOUT).status_code
        == 200
    )
    tls = {"X-Forwarded-Proto": "https"}
    page = requests.get(server.url + "/api/posts/", headers=tls, timeout=TIMEOUT)
    assert page.status_code == 200 and page.json()["next"].startswith("https://")
    assert "max-age=31536000" in page.headers["Strict-Transport-Security"]
    login_page = requests.get(server.url + "/admin/login/", headers=tls, timeout=TIMEOUT)
    assert (
        "Secure" in login_page.headers["Set-Cookie"]
        and "csrftoken" in login_page.headers["Set-Cookie"]
    )


def test_a_weak_if_none_match_gets_a_304(server, user):
    post = make_post(user)
    for url in (f"{server.url}/api/posts/{post.pk}/", f"{server.url}/api/posts/"):
        tag = requests.get(url, timeout=TIMEOUT).headers["ETag"]
        assert not tag.startswith("W/")
        assert (
            requests.get(url, headers={"If-None-Match": f"W/{tag}"}, timeout=TIMEOUT).status_code
            == 304
        )
        assert (
            requests.get(
                url, headers={"If-None-Match": f'W/"other", {tag}'}, timeout=TIMEOUT
            ).status_code
            == 304
        )
        assert (
            requests.get(url, headers={"If-None-Match": 'W/"other"'}, timeout=TIMEOUT).status_code
            == 200
        )
