"""Who may call each channel endpoint: anonymous, a non-member, a member, staff (not a member)."""

import pytest

ROLES = ["anonymous", "non_member", "member", "staff"]

# (method, path template, body, expected status per role)
MATRIX = [
    ("get", "/api/v1/channels", None, {"anonymous": 401, "non_member": 200, "member": 200, "staff": 200}),
    (
        "post",
        "/api/v1/channels",
        {"name": "new-one"},
        {"anonymous": 401, "non_member": 201, "member": 201, "staff": 201},
    ),
    ("get", "/api/v1/channels/{id}", None, {"anonymous": 401, "non_member": 200, "member": 200, "staff": 200}),
    (
        "patch",
        "/api/v1/channels/{id}",
        {"description": "changed"},
        {"anonymous": 401, "non_member": 403, "member": 403, "staff": 200},
    ),
    ("post", "/api/v1/channels/{id}/join", None, {"anonymous": 401, "non_member": 200, "member": 200, "staff": 200}),
    ("post", "/api/v1/channels/{id}/leave", None, {"anonymous": 401, "non_member": 204, "member": 204, "staff": 204}),
    ("get", "/api/v1/channels/{id}/members", None, {"anonymous": 401, "non_member": 200, "member": 200, "staff": 200}),
]


@pytest.fixture
def world(make_user, make_channel, client_for):
    owner = make_user("owner")
    channel = make_channel(owner, "general")
    member = make_user("member")
    client_for(member).post(f"/api/v1/channels/{channel['id']}/join")
    users = {"non_member": make_user("outsider"), "member": member, "staff": make_user("staff", is_staff=True)}
    return channel, users


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("method", "path", "body", "expected"), MATRIX, ids=[f"{m} {p}" for m, p, _, _ in MATRIX])
def test_channel_permission_matrix(world, anon, client_for, role, method, path, body, expected):
    channel, users = world
    client = anon if role == "anonymous" else client_for(users[role])

    response = getattr(client, method)(path.format(id=channel["id"]), body, format="json")

    assert response.status_code == expected[role], response.content
    if response.status_code >= 400:
        assert response.json()["error"]["code"]


def test_the_creator_may_no_longer_patch_after_leaving(world, client_for):
    channel, _users = world
    from accounts.models import User

    owner = User.objects.get(username="owner")
    client = client_for(owner)
    client.post(f"/api/v1/channels/{channel['id']}/leave")

    # Issue 16: managing is a role of the membership; leaving ends it.
    assert (
        client.patch(f"/api/v1/channels/{channel['id']}", {"description": "still mine"}, format="json").status_code
        == 403
    )
