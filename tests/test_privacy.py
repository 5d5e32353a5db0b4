"""Drafts and emails are never served from a shared cache entry to someone not allowed to see
them, whichever reader filled the entry (SPEC 8.5)."""

import pytest

from tests.factories import make_post, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(db):
    return {"author": make_user(), "stranger": make_user(), "staff": make_user(is_staff=True)}


@pytest.mark.parametrize("first", ["author", "staff", "stranger", "anonymous"])
def test_draft_detail_only_for_author_and_staff_whoever_filled_the_cache(
    api, as_user, people, first
):
    draft = make_post(people["author"], status="draft", title="secret plan")
    clients = {name: as_user(person) for name, person in people.items()} | {"anonymous": api}
    url = f"/api/posts/{draft.pk}/"
    clients[first].get(url)  # fills the cache (or tries to)
    for name, client in clients.items():
        response = client.get(url)
        if name in ("author", "staff"):
            assert response.status_code == 200 and response.json()["title"] == "secret plan", name
        else:
            assert response.status_code == 404 and b"secret" not in response.content, name


@pytest.mark.parametrize("first", ["author", "staff"])
def test_drafts_never_appear_in_lists(api, as_user, people, first):
    make_post(people["author"], status="draft", title="secret plan")
    make_post(people["author"], title="public")
    who = as_user(people[first])
    for url in [
        "/api/posts/",
        f"/api/posts/?author={people['author'].pk}",
        "/api/posts/?category=django",
    ]:
        for client in (who, api):
            assert [p["title"] for p in client.get(url).json()["results"]] == ["public"], url


@pytest.mark.parametrize("order", ["privileged_first", "anonymous_first"])
@pytest.mark.parametrize("privileged", ["self", "staff"])
def test_email_only_for_the_user_and_staff_in_detail_and_list(
    api, as_user, people, order, privileged
):
    owner = people["author"]
    reader = as_user(owner if privileged == "self" else people["staff"])
    others = [api, as_user(people["stranger"])]
    sequence = [reader, *others] if order == "privileged_first" else [*others, reader]
    for client in sequence:
        detail = client.get(f"/api/users/{owner.pk}/")
        listed = {u["id"]: u for u in client.get("/api/users/").json()["results"]}[owner.pk]
        if client is reader:
            assert detail.json()["email"] == owner.email and listed["email"] == owner.email
        else:
            assert "email" not in detail.json() and "email" not in listed
            assert owner.email.encode() not in detail.content
    assert detail["X-Cache"] == "HIT"


def test_a_user_sees_their_own_email_in_the_list_but_not_others(as_user, people):
    body = as_user(people["stranger"]).get("/api/users/").json()["results"]
    emails = {u["id"]: u.get("email") for u in body}
    assert emails[people["stranger"].pk] == people["stranger"].email
    assert emails[people["author"].pk] is None and emails[people["staff"].pk] is None


def test_changing_someone_elses_draft_is_404_not_403(as_user, people):
    draft = make_post(people["author"], status="draft", title="secret plan")
    stranger = as_user(people["stranger"])
    assert (
        stranger.patch(f"/api/posts/{draft.pk}/", {"title": "x"}, format="json").status_code == 404
    )
    assert stranger.delete(f"/api/posts/{draft.pk}/").status_code == 404
    assert (
        as_user(people["staff"])
        .patch(f"/api/posts/{draft.pk}/", {"title": "ok"}, format="json")
        .status_code
        == 200
    )
