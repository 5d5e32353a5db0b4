"""Bounded fuzzing: schemathesis against the project's own OpenAPI schema (with a staff token),
hypothesis on the key builder and the list filters. No input may cause a 5xx, and no request
value may reach a Redis pattern unescaped."""

import fnmatch

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error

from caching.core import keys
from posts.cache import post_key, posts_page_key
from tests.factories import make_post, make_user

FUZZ = settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
# No per-example deadline (hypothesis's default is 200 ms): a loaded machine may stall any
# example, and these tests are about values, not speed.
NO_DEADLINE = settings(deadline=None)


@pytest.fixture
def api_schema(db):
    """The schema, served by the WSGI app in this process, inside the test's transaction (as
    Django's test client does, requests must not close the test's database connection)."""
    from config.wsgi import application

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield schemathesis.openapi.from_wsgi("/api/schema/", application)
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def staff_token(db):
    staff = make_user(is_staff=True)
    make_post(staff)
    return Token.objects.create(user=staff).key


def test_no_input_gives_a_server_error(api_schema, staff_token):
    """Every operation of the schema, 25 generated cases each, as staff."""
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 15
    for operation in operations:

        @given(case=operation.as_strategy())
        @FUZZ
        def run(case):
            case.call_and_validate(
                headers={"Authorization": f"Token {staff_token}"}, checks=[not_a_server_error]
            )

        run()


@given(st.text(max_size=80))
@NO_DEADLINE
def test_any_category_gives_a_key_whose_segment_is_safe(value):
    logical = str(posts_page_key(1, category=value))
    segment = logical.removeprefix("posts:category:").removesuffix(":page:1")
    assert ":" not in segment and not any(c in segment for c in "*?[]\\")
    assert logical.count(":") == 4


@given(st.text(max_size=40))
@NO_DEADLINE
def test_no_string_widens_a_namespace_pattern(name):
    try:
        pattern = keys.namespace_pattern(name)
    except ValueError:
        return
    assert not any(c in name for c in "*?[]\\:")
    assert not fnmatch.fnmatchcase(keys.physical(post_key(1)), pattern) or name == "post"


@pytest.mark.django_db
@given(
    author=st.one_of(st.none(), st.text(max_size=25), st.integers(-(2**70), 2**70).map(str)),
    category=st.one_of(st.none(), st.text(max_size=60)),
    page=st.one_of(st.none(), st.text(max_size=10), st.integers(-5, 10**7).map(str)),
)
@FUZZ
def test_any_list_filters_answer_200_400_or_404(api, author, category, page):
    params = {
        k: v
        for k, v in {"author": author, "category": category, "page": page}.items()
        if v is not None
    }
    response = api.get("/api/posts/", params)
    assert response.status_code in (200, 400, 404), (params, response.status_code)
    assert response["Content-Type"] == "application/json"
