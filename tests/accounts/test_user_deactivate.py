"""Deactivating a user: the service (tokens gone, audited) and the admin action."""

import pytest
from django.urls import reverse
from knox.models import AuthToken

from accounts.models import User, default_workspace_id
from accounts.services import user_deactivate
from moderation.models import AuditLogEntry
from slackclone import errors
from tests.conftest import token_for
from tests.helpers import capture_broadcasts


def _me(token):
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client.get("/api/v1/users/me")


def test_deactivate_revokes_every_token_and_is_audited(make_user, staff):
    alice = make_user("alice")
    phone, laptop = token_for(alice), token_for(alice)
    other = token_for(make_user("bob"))
    assert _me(phone).status_code == 200

    assert user_deactivate(user=alice, by=staff) is True

    alice.refresh_from_db()
    assert alice.is_active is False
    assert not AuthToken.objects.filter(user=alice).exists()
    assert _me(phone).status_code == 401 and _me(laptop).status_code == 401
    assert _me(other).status_code == 200
    entry = AuditLogEntry.objects.get()
    assert (entry.action, entry.target_type, entry.target_id, entry.actor_id) == (
        "user_deactivate",
        "user",
        str(alice.pk),
        staff.pk,
    )
    assert entry.detail == {"username": "alice", "was_active": True, "tokens_deleted": 2}


def test_a_deactivated_user_cannot_log_in(make_user, staff, anon):
    alice = make_user("alice")
    user_deactivate(user=alice, by=staff)

    response = anon.post(
        "/api/v1/auth/login", {"username": "alice", "password": "correct horse battery staple"}, format="json"
    )

    assert response.status_code == 401


def test_deactivating_again_changes_and_records_nothing(make_user, staff):
    alice = make_user("alice")
    user_deactivate(user=alice, by=staff)

    assert user_deactivate(user=alice, by=staff) is False
    assert AuditLogEntry.objects.count() == 1


def test_only_staff_and_not_oneself(make_user, staff):
    alice = make_user("alice")

    with pytest.raises(errors.PermissionDenied):
        user_deactivate(user=staff, by=alice)
    with pytest.raises(errors.ValidationFailed):
        user_deactivate(user=staff, by=staff)
    assert User.objects.filter(is_active=True).count() == 2


def test_the_admin_action_asks_then_deactivates(staff_client, make_user):
    alice, bob = make_user("alice"), make_user("bob")
    token = token_for(alice)
    changelist = reverse("admin:accounts_user_changelist")
    selection = {"action": "deactivate_selected", "_selected_action": [str(alice.pk), str(bob.pk)]}

    confirm = staff_client.post(changelist, selection)

    assert confirm.status_code == 200
    assert b"Deactivate users?" in confirm.content and b"alice" in confirm.content and b"bob" in confirm.content
    assert b'name="post" value="yes"' in confirm.content
    assert User.objects.get(pk=alice.pk).is_active

    done = staff_client.post(changelist, {**selection, "post": "yes"}, follow=True)

    assert b"Deactivated 2 users." in done.content
    assert not User.objects.filter(pk__in=[alice.pk, bob.pk], is_active=True).exists()
    assert _me(token).status_code == 401
    assert AuditLogEntry.objects.filter(action="user_deactivate").count() == 2


def test_the_admin_action_refuses_to_deactivate_the_acting_admin(staff_client, staff):
    changelist = reverse("admin:accounts_user_changelist")

    done = staff_client.post(
        changelist, {"action": "deactivate_selected", "_selected_action": [str(staff.pk)], "post": "yes"}, follow=True
    )

    assert b"You cannot deactivate your own account." in done.content
    assert User.objects.get(pk=staff.pk).is_active


def test_unticking_active_on_the_change_form_goes_through_the_service(staff_client, make_user):
    alice = make_user("alice")
    token = token_for(alice)
    url = reverse("admin:accounts_user_change", args=[alice.pk])
    data = {"username": "alice", "email": "alice@example.com", "display_name": "Alice"}  # "is_active" unticked

    response = staff_client.post(url, data)

    assert response.status_code == 302, response.content
    alice.refresh_from_db()
    assert alice.is_active is False
    assert _me(token).status_code == 401
    assert AuditLogEntry.objects.filter(action="user_deactivate", target_id=str(alice.pk)).exists()


def test_deactivate_closes_every_socket_of_the_user(make_user, staff, django_capture_on_commit_callbacks):
    alice = make_user("alice")
    token_for(alice)

    with capture_broadcasts() as sent, django_capture_on_commit_callbacks(execute=True):
        user_deactivate(user=alice, by=staff)

    assert sent.calls == [
        ("sessions_close", {"user_id": str(alice.pk), "workspace_ids": [str(default_workspace_id())]})
    ]
