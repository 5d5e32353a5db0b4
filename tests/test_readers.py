"""Token readers in the cache (``api.authentication``): a token created while its user changes
reads as the changed user. That the early path and DRF name the same reader for every
credential shape is ``tests/test_early_reads.py``'s."""

import pytest
from rest_framework.authtoken.models import Token

from tests.factories import make_user


@pytest.mark.live
@pytest.mark.django_db(transaction=True)
def test_a_token_created_while_its_user_is_deactivated_loses_read_access(live, settings):
    """The race held open: the deactivation has listed the user's tokens (none yet: each is
    dropped from the cache after commit) and has not committed; a token is created meanwhile by
    a path that does not lock the user (the admin's form, ``drf_create_token``) and read through
    both workers. Once the deactivation commits, the token reads nothing."""
    import threading

    import requests
    from django.db import connection, transaction

    from tests.conftest import closing_connections
    from tests.live import HTTP_TIMEOUT, wait_until

    user = make_user()
    token = Token(user_id=user.pk, key=Token.generate_key())
    # The reader's key is a hash keyed by SECRET_KEY: the server shares this process's, so the
    # deactivation's invalidation (made here) names the entries the server reads.
    server = live(workers=2, env={"DJANGO_SECRET_KEY": settings.SECRET_KEY})

    def reads() -> list[int]:
        url, headers = server.url + "/api/posts/", {"Authorization": f"Token {token.key}"}
        return [
            requests.get(url, headers=headers, timeout=HTTP_TIMEOUT).status_code for _ in range(8)
        ]

    listed, commit = threading.Event(), threading.Event()
    seen: dict[str, object] = {}

    def recorded(work):
        @closing_connections
        def run() -> None:
            try:
                work()
            except BaseException as error:  # the test fails with it, not a thread warning
                seen[work.__name__] = error
                listed.set()

        return threading.Thread(target=run)

    def deactivate() -> None:
        with transaction.atomic():
            row = type(user).objects.get(pk=user.pk)
            row.is_active = False
            row.save()  # lists the user's tokens for the cache work after commit
            listed.set()
            commit.wait(timeout=HTTP_TIMEOUT)

    def create_token() -> None:
        seen["pid"] = connection.cursor().connection.info.backend_pid
        token.save()
        seen["created"] = True

    def created_or_waiting() -> bool:
        if "created" in seen or "create_token" in seen:
            return True
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [seen.get("pid", 0)]
            )
            row = cursor.fetchone()
        return row is not None and row[0] == "Lock"

    deactivating, creating = recorded(deactivate), recorded(create_token)
    deactivating.start()
    try:
        assert listed.wait(timeout=HTTP_TIMEOUT) and "deactivate" not in seen, seen
        creating.start()
        wait_until(created_or_waiting, message="the token was neither created nor waiting")
        during = reads()  # the token's reader, read (and cached) while the race is open
    finally:
        commit.set()
        deactivating.join()
        if creating.ident is not None:
            creating.join()
    assert "deactivate" not in seen and "create_token" not in seen, seen
    after = reads()
    assert set(after) == {401}, f"after the deactivation committed: {after} (during: {during})"
