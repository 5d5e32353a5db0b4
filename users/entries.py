"""Users rendered as the cache keeps them: part 0 without emails, part 1 with them; the view
picks one per reader (docs/reads.md, "Privacy: drafts and emails")."""

from typing import Any

from api.pagination import page_of
from api.responses import render
from caching import Entry
from users import selectors
from users.serializers import UserSerializer

PUBLIC, WITH_EMAIL = 0, 1


def without_email(user: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in user.items() if name != "email"}


def user_detail(pk: int) -> Entry | None:
    user = selectors.user(pk)
    if user is None:
        return None
    data = UserSerializer(user).data
    return Entry((render(without_email(data)), render(data)))


def user_page(number: int) -> Entry | None:
    found = page_of(selectors.users(), number, UserSerializer)
    if found is None:
        return None
    meta, rows = found
    public = [without_email(row) for row in rows]
    return Entry((render(public), render(rows)), {**meta, "ids": [row["id"] for row in rows]})
