"""Who may call each accounts endpoint: anonymous, a user, staff."""

import pytest

PASSWORD = "correct horse battery staple"

# (method, path, body, expected status per role); {other} is another active user's id.
MATRIX = [
    (
        "post",
        "/api/v1/auth/register",
        {"email": "new@example.com", "username": "newbie", "password": PASSWORD},
        {"anonymous": 201, "user": 201, "staff": 201},
    ),
    (
        "post",
        "/api/v1/auth/login",
        {"username": "other", "password": PASSWORD},
        {"anonymous": 200, "user": 200, "staff": 200},
    ),
    ("post", "/api/v1/auth/logout", None, {"anonymous": 401, "user": 204, "staff": 204}),
    ("get", "/api/v1/users/me", None, {"anonymous": 401, "user": 200, "staff": 200}),
    ("patch", "/api/v1/users/me", {"display_name": "X"}, {"anonymous": 401, "user": 200, "staff": 200}),
    ("get", "/api/v1/users", None, {"anonymous": 401, "user": 200, "staff": 200}),
    ("get", "/api/v1/users/{other}", None, {"anonymous": 401, "user": 200, "staff": 200}),
]


@pytest.mark.parametrize("role", ["anonymous", "user", "staff"])
@pytest.mark.parametrize(("method", "path", "body", "expected"), MATRIX, ids=[f"{m} {p}" for m, p, _, _ in MATRIX])
def test_accounts_permission_matrix(make_user, anon, client_for, role, method, path, body, expected):
    other = make_user("other", password=PASSWORD)
    users = {"user": make_user("alice"), "staff": make_user("root", is_staff=True)}
    client = anon if role == "anonymous" else client_for(users[role])

    kwargs = {"format": "json"} if body is not None else {}
    response = getattr(client, method)(path.format(other=other.pk), body, **kwargs)

    assert response.status_code == expected[role], response.content
