"""Workspaces through the API: creation, registration and login into a workspace,
switching, invitations (with concurrent redemption), roles (the last owner) and the
deactivation of members. Isolation between workspaces: tests/accounts/test_workspace_isolation.py."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import TokenWorkspace, User, Workspace, WorkspaceInvite, WorkspaceMember
from moderation.models import AuditLogEntry
from tests.conftest import join_workspace, token_for
from tests.helpers import capture_broadcasts

PASSWORD = "correct horse battery staple"


def bearer(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


@pytest.fixture
def acme(db):
    return Workspace.objects.create(slug="acme", name="Acme")  # invite-only, as new workspaces are


def invite(workspace, **fields) -> WorkspaceInvite:
    fields.setdefault("expires_at", timezone.now() + timedelta(hours=1))
    return WorkspaceInvite.objects.create(code=f"code-{WorkspaceInvite.objects.count()}", workspace=workspace, **fields)


def register(**fields):
    body = {"email": "new@example.com", "username": "newbie", "password": PASSWORD} | fields
    return APIClient().post("/api/v1/auth/register", body, format="json")


# --- Creating workspaces ------------------------------------------------------------


def test_create_workspace_with_a_token_makes_the_caller_owner(client_for, alice):
    response = client_for(alice).post("/api/v1/workspaces", {"slug": "acme", "name": "Acme"}, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["workspace"] | {"id": None, "created_at": None} == {
        "id": None,
        "slug": "acme",
        "name": "Acme",
        "joining": "invite_only",
        "created_at": None,
        "member_count": 1,
    }
    assert body["user"]["role"] == "owner"
    me = bearer(body["token"]).get("/api/v1/workspace").json()
    assert me["slug"] == "acme"


def test_create_workspace_without_a_token_creates_its_owner(db):
    response = APIClient().post(
        "/api/v1/workspaces",
        {"slug": "acme", "name": "Acme", "email": "Founder@example.com", "username": "founder", "password": PASSWORD},
        format="json",
    )

    assert response.status_code == 201, response.content
    founder = User.objects.get(username="founder")
    assert WorkspaceMember.objects.get(user=founder).role == "owner"
    assert response.json()["user"]["email"] == "founder@example.com"


def test_create_workspace_answers_409_on_a_taken_slug_and_400_on_a_bad_one(client_for, alice, acme):
    client = client_for(alice)
    taken = client.post("/api/v1/workspaces", {"slug": "acme", "name": "Again"}, format="json")
    bad = client.post("/api/v1/workspaces", {"slug": "Not A Slug", "name": "x"}, format="json")

    assert taken.status_code == 409
    assert taken.json()["error"]["code"] == "workspace_slug_taken"
    assert bad.status_code == 400


def test_create_workspace_is_staff_only_unless_creation_is_open(client_for, alice, staff, settings):
    settings.WORKSPACE_CREATION = "staff"

    refused = client_for(alice).post("/api/v1/workspaces", {"slug": "acme", "name": "Acme"}, format="json")
    by_staff = client_for(staff).post("/api/v1/workspaces", {"slug": "acme", "name": "Acme"}, format="json")

    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "workspace_creation_closed"
    assert by_staff.status_code == 201


# --- Registering, logging in, switching -----------------------------------------------


def test_register_without_a_workspace_joins_the_default_one(db):
    response = register()

    assert response.status_code == 201
    assert bearer(response.json()["token"]).get("/api/v1/workspace").json()["slug"] == "default"


def test_register_into_an_invite_only_workspace_needs_a_valid_code(acme):
    missing = register(workspace="acme")
    wrong = register(workspace="acme", invite_code="nope")
    good = register(workspace="acme", invite_code=invite(acme).code)

    assert (missing.status_code, missing.json()["error"]["code"]) == (400, "invite_required")
    assert (wrong.status_code, wrong.json()["error"]["code"]) == (400, "invite_invalid")
    assert good.status_code == 201
    assert bearer(good.json()["token"]).get("/api/v1/workspace").json()["slug"] == "acme"


def test_register_with_only_an_invite_code_joins_its_workspace(acme):
    response = register(invite_code=invite(acme).code)

    assert response.status_code == 201
    assert bearer(response.json()["token"]).get("/api/v1/workspace").json()["slug"] == "acme"


@pytest.mark.parametrize(
    "state",
    [
        {"expires_at": timezone.now() - timedelta(seconds=1)},
        {"max_uses": 2, "uses": 2},
        {"revoked_at": timezone.now()},
    ],
    ids=["expired", "used-up", "revoked"],
)
def test_an_expired_used_up_or_revoked_code_is_invite_invalid(acme, state):
    response = register(workspace="acme", invite_code=invite(acme, **state).code)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invite_invalid"
    assert not User.objects.filter(username="newbie").exists()


def test_a_code_of_another_workspace_is_invite_invalid(acme):
    other = Workspace.objects.create(slug="other", name="Other")

    response = register(workspace="acme", invite_code=invite(other).code)

    assert response.json()["error"]["code"] == "invite_invalid"


def test_an_existing_account_joins_another_workspace_with_its_password(alice, acme):
    code = invite(acme).code

    wrong = register(email="alice@example.com", username="alice", password="not the password", invite_code=code)
    joined = register(email="alice@example.com", username="alice", password=PASSWORD, invite_code=code)

    assert wrong.status_code == 409
    assert joined.status_code == 201, joined.content
    assert User.objects.filter(username="alice").count() == 1
    assert set(alice.workspace_memberships.values_list("workspace__slug", flat=True)) == {"default", "acme"}
    assert WorkspaceInvite.objects.get(code=code).uses == 1  # the refused attempt took no use


def test_login_picks_the_default_workspace_else_the_only_one_else_asks(make_user, acme):
    both = make_user("both")
    join_workspace(both, acme)
    only_acme = make_user("onlyacme", workspace=acme)
    WorkspaceMember.objects.filter(user=only_acme).exclude(workspace=acme).delete()
    third = Workspace.objects.create(slug="third", name="Third")
    several = make_user("several", workspace=acme)
    join_workspace(several, third)
    WorkspaceMember.objects.filter(user=several, workspace__slug="default").delete()

    def login(username, **extra):
        return APIClient().post(
            "/api/v1/auth/login", {"username": username, "password": PASSWORD, **extra}, format="json"
        )

    def slug_of(response):
        return bearer(response.json()["token"]).get("/api/v1/workspace").json()["slug"]

    assert slug_of(login("both")) == "default"
    assert slug_of(login("both", workspace="acme")) == "acme"
    assert slug_of(login("onlyacme")) == "acme"
    asked = login("several")
    assert asked.status_code == 400
    assert asked.json()["error"]["code"] == "workspace_required"
    assert sorted(asked.json()["error"]["fields"]["workspace"]) == ["acme", "third"]
    outside = login("onlyacme", workspace="default")
    assert (outside.status_code, outside.json()["error"]["code"]) == (401, "invalid_credentials")


def test_switch_gives_a_token_of_another_of_my_workspaces_only(make_user, acme):
    alice = make_user("alice")
    join_workspace(alice, acme)
    client = bearer(token_for(alice))

    switched = client.post("/api/v1/auth/switch", {"workspace": "acme"}, format="json")
    elsewhere = client.post("/api/v1/auth/switch", {"workspace": "nowhere"}, format="json")
    Workspace.objects.create(slug="closed", name="Closed")
    not_mine = client.post("/api/v1/auth/switch", {"workspace": "closed"}, format="json")

    assert switched.status_code == 200
    assert bearer(switched.json()["token"]).get("/api/v1/workspace").json()["slug"] == "acme"
    assert elsewhere.status_code == not_mine.status_code == 404


def test_my_workspaces_lists_the_active_ones_with_my_role(make_user, acme):
    alice = make_user("alice")
    join_workspace(alice, acme, role="admin")
    gone = Workspace.objects.create(slug="gone", name="Gone")
    WorkspaceMember.objects.create(workspace=gone, user=alice, is_active=False)

    rows = bearer(token_for(alice)).get("/api/v1/workspaces").json()["results"]

    assert [(row["slug"], row["role"], row["member_count"]) for row in rows] == [
        ("acme", "admin", 1),
        ("default", "member", 1),
    ]


def test_patch_workspace_is_for_admins(make_user):
    admin, member = make_user("boss", role="admin"), make_user("worker")

    refused = bearer(token_for(member)).patch("/api/v1/workspace", {"name": "Mine"}, format="json")
    done = bearer(token_for(admin)).patch("/api/v1/workspace", {"joining": "invite_only"}, format="json")

    assert refused.status_code == 403
    assert done.status_code == 200
    assert done.json()["joining"] == "invite_only"


# --- Invites ----------------------------------------------------------------------------


def test_admins_create_list_and_revoke_invites(make_user):
    admin, member = make_user("boss", role="admin"), make_user("worker")
    client = bearer(token_for(admin))

    created = client.post("/api/v1/workspace/invites", {"max_uses": 3, "expires_in_hours": 2}, format="json")
    code = created.json()["code"]
    listed = client.get("/api/v1/workspace/invites").json()["results"]
    refused = bearer(token_for(member)).post("/api/v1/workspace/invites", {}, format="json")
    revoked = client.delete(f"/api/v1/workspace/invites/{code}")
    unknown = client.delete("/api/v1/workspace/invites/unknown-code")

    assert created.status_code == 201
    assert created.json()["max_uses"] == 3 and created.json()["uses"] == 0
    assert [row["code"] for row in listed] == [code]
    assert refused.status_code == 403
    assert revoked.status_code == 204
    assert client.get("/api/v1/workspace/invites").json()["results"] == []
    assert unknown.status_code == 404
    assert register(invite_code=code).json()["error"]["code"] == "invite_invalid"


@pytest.mark.parametrize("code", ["%00", "abc%00def", "%00" * 30])
def test_revoking_a_code_with_a_nul_character_is_404_not_500(make_user, code):
    client = bearer(token_for(make_user("boss", role="admin")))
    client.raise_request_exception = False

    response = client.delete(f"/api/v1/workspace/invites/{code}")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "invite_not_found"


@pytest.mark.parametrize("body", [{"max_uses": 0}, {"max_uses": 1001}, {"expires_in_hours": 721}, {"max_uses": True}])
def test_invite_limits_are_validated(make_user, body):
    response = bearer(token_for(make_user("boss", role="admin"))).post("/api/v1/workspace/invites", body, format="json")

    assert response.status_code == 400


@pytest.mark.django_db(transaction=True)
def test_concurrent_redemptions_take_the_last_uses_exactly_once():
    """12 registrations race for an invite with 3 uses left: exactly 3 join."""
    acme = Workspace.objects.create(slug="acme", name="Acme")
    code = WorkspaceInvite.objects.create(
        code="race", workspace=acme, max_uses=3, expires_at=timezone.now() + timedelta(hours=1)
    ).code
    barrier = threading.Barrier(12)
    statuses: list[int] = []

    def attempt(n):
        try:
            barrier.wait()
            body = {"email": f"r{n}@example.com", "username": f"r{n}", "password": PASSWORD, "invite_code": code}
            statuses.append(APIClient().post("/api/v1/auth/register", body, format="json").status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(statuses) == [201] * 3 + [400] * 9
    assert WorkspaceInvite.objects.get(code=code).uses == 3
    assert WorkspaceMember.objects.filter(workspace=acme).count() == 3


# --- Roles --------------------------------------------------------------------------------


def set_role(actor, target, role):
    return bearer(token_for(actor)).patch(f"/api/v1/users/{target.pk}", {"role": role}, format="json")


def test_owners_set_any_role_admins_only_member_and_admin_on_non_owners(make_user):
    owner, admin = make_user("own", role="owner"), make_user("adm", role="admin")
    member, other = make_user("mem"), make_user("oth")

    assert set_role(owner, member, "admin").json()["role"] == "admin"
    assert set_role(admin, other, "admin").status_code == 200
    assert set_role(admin, other, "member").json()["role"] == "member"
    assert set_role(admin, other, "owner").status_code == 403
    assert set_role(admin, owner, "member").status_code == 403
    assert set_role(member, other, "admin").status_code == 200  # `member` became an admin above
    assert set_role(make_user("plain"), member, "member").status_code == 403
    assert set_role(owner, admin, "owner").json()["role"] == "owner"
    entry = AuditLogEntry.objects.filter(action="member_role").first()
    assert entry.workspace.slug == "default" and entry.detail["to"] == "owner"


def test_the_last_owner_cannot_be_demoted(make_user):
    owner, second = make_user("own", role="owner"), make_user("sec")

    refused = set_role(owner, owner, "admin")
    set_role(owner, second, "owner")
    allowed = set_role(owner, owner, "admin")

    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "last_owner")
    assert allowed.status_code == 200


def test_an_owner_whose_account_staff_deactivated_does_not_count_as_another_owner(make_user):
    """Else the last owner who can log in could step down, and nobody could run the
    workspace any more."""
    from accounts.services import user_deactivate

    owner, gone = make_user("own", role="owner"), make_user("gone", role="owner")
    user_deactivate(user=gone, by=make_user("ops", is_staff=True))

    refused = set_role(owner, owner, "admin")

    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "last_owner")


@pytest.mark.parametrize("action", ["role", "deactivate", "reactivate"])
def test_a_user_whose_account_staff_deactivated_is_404_and_left_unchanged(make_user, action):
    """Their profile is 404 in the workspace; the role and activation calls answered 404
    too, but only after changing the membership (and auditing it)."""
    from accounts.services import user_deactivate

    owner, gone = make_user("own", role="owner"), make_user("gone")
    user_deactivate(user=gone, by=make_user("ops", is_staff=True))
    if action == "reactivate":
        WorkspaceMember.objects.filter(user=gone).update(is_active=False)
    client = bearer(token_for(owner))
    before = WorkspaceMember.objects.values("role", "is_active").get(user=gone)

    if action == "role":
        response = client.patch(f"/api/v1/users/{gone.pk}", {"role": "admin"}, format="json")
    else:
        response = client.post(f"/api/v1/users/{gone.pk}/{action}")

    assert (response.status_code, response.json()["error"]["code"]) == (404, "user_not_found")
    assert WorkspaceMember.objects.values("role", "is_active").get(user=gone) == before
    assert not AuditLogEntry.objects.filter(action__startswith="member_").exists()


@pytest.mark.django_db(transaction=True)
def test_two_owners_demoting_each_other_at_once_leave_one_owner(make_user):
    first, second = make_user("first", role="owner"), make_user("second", role="owner")
    tokens = {first.pk: token_for(first), second.pk: token_for(second)}
    barrier = threading.Barrier(2)
    statuses = []

    def demote(actor, target):
        try:
            barrier.wait()
            statuses.append(
                bearer(tokens[actor.pk]).patch(f"/api/v1/users/{target.pk}", {"role": "member"}, format="json")
            )
        finally:
            connection.close()

    threads = [threading.Thread(target=demote, args=pair) for pair in ((first, second), (second, first))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    owners = WorkspaceMember.objects.filter(role="owner", user__in=[first, second]).count()
    assert owners == 1
    assert sorted(r.status_code for r in statuses) in ([200, 401], [200, 403], [200, 409])


# --- Deactivation -------------------------------------------------------------------------


def test_deactivating_a_member_revokes_their_tokens_for_this_workspace_only(
    make_user, django_capture_on_commit_callbacks
):
    acme = Workspace.objects.create(slug="acme", name="Acme")
    admin, bob = make_user("boss", role="admin"), make_user("bob")
    default_token, acme_token = token_for(bob), token_for(bob, acme)

    with capture_broadcasts() as sent, django_capture_on_commit_callbacks(execute=True):
        response = bearer(token_for(admin)).post(f"/api/v1/users/{bob.pk}/deactivate")

    assert response.status_code == 200
    assert response.json()["is_active"] is False
    assert bearer(default_token).get("/api/v1/users/me").status_code == 401
    assert bearer(acme_token).get("/api/v1/users/me").status_code == 200
    workspace_id = str(WorkspaceMember.objects.get(user=admin).workspace_id)
    assert sent.calls == [("sessions_close", {"user_id": str(bob.pk), "workspace_ids": [workspace_id]})]
    profile = bearer(token_for(admin)).get(f"/api/v1/users/{bob.pk}")
    assert profile.status_code == 200 and profile.json()["is_active"] is False
    assert bob.username not in str(bearer(token_for(admin)).get("/api/v1/users").json())
    login = APIClient().post("/api/v1/auth/login", {"username": "bob", "password": PASSWORD}, format="json")
    assert login.status_code == 200  # the default workspace refuses them: their only active one is acme
    assert bearer(login.json()["token"]).get("/api/v1/workspace").json()["slug"] == "acme"
    assert AuditLogEntry.objects.filter(action="member_deactivate", target_id=str(bob.pk)).count() == 1


def test_reactivating_does_not_revive_old_tokens(make_user):
    admin, bob = make_user("boss", role="admin"), make_user("bob")
    old = token_for(bob)
    client = bearer(token_for(admin))

    client.post(f"/api/v1/users/{bob.pk}/deactivate")
    again = client.post(f"/api/v1/users/{bob.pk}/reactivate")

    assert again.status_code == 200 and again.json()["is_active"] is True
    assert bearer(old).get("/api/v1/users/me").status_code == 401
    assert TokenWorkspace.objects.filter(member__user=bob).count() == 0
    assert bearer(token_for(bob)).get("/api/v1/users/me").status_code == 200
    assert AuditLogEntry.objects.filter(action="member_reactivate").count() == 1


def test_deactivation_rules(make_user):
    owner, admin, member = make_user("own", role="owner"), make_user("adm", role="admin"), make_user("mem")

    def deactivate(actor, target):
        return bearer(token_for(actor)).post(f"/api/v1/users/{target.pk}/deactivate")

    assert deactivate(member, admin).status_code == 403
    assert deactivate(admin, owner).status_code == 403
    assert deactivate(admin, admin).json()["error"]["code"] == "cannot_deactivate_self"
    assert deactivate(owner, admin).status_code == 200


@pytest.mark.parametrize("how", ["membership", "account"])
def test_a_login_racing_a_deactivation_mints_no_token_that_reactivation_would_revive(make_user, monkeypatch, how):
    """The login read the membership (and account) as active; the deactivation then
    deleted the tokens and committed before the login minted its token. That token
    must not exist: reactivating would revive it ("reactivating does not revive their
    old tokens")."""
    from knox.models import AuthToken

    from accounts.services import member_deactivate, member_reactivate, user_deactivate
    from accounts.services import users as user_services

    owner, victim = make_user("own", role="owner"), make_user("victim")
    by = WorkspaceMember.objects.select_related("workspace").get(user=owner)
    real = user_services._login_membership

    def then_deactivated(**kwargs):
        membership = real(**kwargs)
        if how == "membership":
            member_deactivate(by=by, user_id=victim.pk)
        else:
            user_deactivate(user=victim, by=make_user("ops", is_staff=True))
        return membership

    monkeypatch.setattr(user_services, "_login_membership", then_deactivated)
    login = APIClient().post(
        "/api/v1/auth/login", {"username": "victim", "password": "correct horse battery staple"}, format="json"
    )
    if how == "membership":
        member_reactivate(by=by, user_id=victim.pk)
    else:
        User.objects.filter(pk=victim.pk).update(is_active=True)

    assert (login.status_code, login.json()["error"]["code"]) == (401, "invalid_credentials")
    assert not AuthToken.objects.filter(user=victim).exists()
