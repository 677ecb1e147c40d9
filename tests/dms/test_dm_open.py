import uuid

import pytest

from dms.models import DmConversation
from tests.helpers import capture_broadcasts


def test_open_dm_creates_it_with_201_and_the_smaller_uuid_as_user1(
    client_for, alice, bob, django_capture_on_commit_callbacks
):
    with capture_broadcasts() as broadcasts, django_capture_on_commit_callbacks(execute=True):
        response = client_for(alice).post("/api/v1/dms", {"user_id": str(bob.pk)}, format="json")

    assert response.status_code == 201
    conversation = DmConversation.objects.get()
    small, big = sorted([alice.pk, bob.pk])
    body = response.json()
    assert body == {
        "id": str(conversation.pk),
        "user1_id": str(small),
        "user2_id": str(big),
        "other_user": {
            "id": str(bob.pk),
            "username": "bob",
            "display_name": "Bob",
            "created_at": body["other_user"]["created_at"],
            "role": "member",
            "is_active": True,
        },
        "created_at": body["created_at"],
    }
    assert body["created_at"].endswith("Z")
    assert (conversation.user1_id, conversation.user2_id) == (small, big)
    assert broadcasts.calls == [
        (
            "dm_created",
            {
                "conversation_id": str(conversation.pk),
                "user_ids": [str(small), str(big)],
                "workspace_id": str(conversation.workspace_id),
            },
        )
    ]


def test_opening_an_existing_dm_answers_200_in_either_order_and_broadcasts_nothing(
    client_for, alice, bob, django_capture_on_commit_callbacks
):
    created = client_for(alice).post("/api/v1/dms", {"user_id": str(bob.pk)}, format="json").json()

    with capture_broadcasts() as broadcasts, django_capture_on_commit_callbacks(execute=True):
        again = client_for(alice).post("/api/v1/dms", {"user_id": str(bob.pk)}, format="json")
        reverse = client_for(bob).post("/api/v1/dms", {"user_id": str(alice.pk)}, format="json")

    assert again.status_code == 200
    assert reverse.status_code == 200
    assert again.json() == created
    assert reverse.json()["id"] == created["id"]
    assert reverse.json()["other_user"]["id"] == str(alice.pk)
    assert DmConversation.objects.count() == 1
    assert broadcasts.calls == []


def test_opening_a_dm_with_myself_is_400_cannot_dm_self(client_for, alice):
    response = client_for(alice).post("/api/v1/dms", {"user_id": str(alice.pk)}, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "cannot_dm_self"
    assert not DmConversation.objects.exists()


def test_opening_a_dm_with_an_unknown_user_is_404(client_for, alice):
    response = client_for(alice).post("/api/v1/dms", {"user_id": str(uuid.uuid4())}, format="json")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "user_not_found"
    assert not DmConversation.objects.exists()


def test_opening_a_dm_with_a_deactivated_user_is_404(client_for, alice, make_user):
    gone = make_user("gone", is_active=False)

    response = client_for(alice).post("/api/v1/dms", {"user_id": str(gone.pk)}, format="json")

    assert response.status_code == 404
    assert not DmConversation.objects.exists()


def test_reopening_a_dm_with_a_user_deactivated_since_answers_it(client_for, alice, bob):
    """As for group DMs: the DM stays in alice's sidebar and readable, so opening it again
    is 200 with it, not 404; a new DM with a deactivated user is still 404."""
    from accounts.models import WorkspaceMember

    first = client_for(alice).post("/api/v1/dms", {"user_id": str(bob.pk)}, format="json").json()
    WorkspaceMember.objects.filter(user=bob).update(is_active=False)

    again = client_for(alice).post("/api/v1/dms", {"user_id": str(bob.pk)}, format="json")

    assert again.status_code == 200, again.content
    assert again.json()["id"] == first["id"]
    assert DmConversation.objects.count() == 1


def test_opening_accepts_an_upper_case_uuid(client_for, alice, bob):
    response = client_for(alice).post("/api/v1/dms", {"user_id": str(bob.pk).upper()}, format="json")

    assert response.status_code == 201


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"user_id": "not-a-uuid"},
        {"user_id": ""},
        {"user_id": None},
        {"user_id": 12345},
        {"user_id": ["x"]},
        {"user_id": "12345678-1234-1234-1234-1234567890123"},
    ],
)
def test_opening_rejects_a_missing_or_malformed_user_id(client_for, alice, body):
    response = client_for(alice).post("/api/v1/dms", body, format="json")

    assert response.status_code == 400
    assert "user_id" in response.json()["error"]["fields"]
    assert not DmConversation.objects.exists()


def test_opening_rejects_unknown_fields(client_for, alice, bob):
    response = client_for(alice).post("/api/v1/dms", {"user_id": str(bob.pk), "topic": "x"}, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"topic": ["Unknown field."]}
    assert not DmConversation.objects.exists()


@pytest.mark.parametrize("raw", ["{", "[]", "null"])
def test_opening_rejects_non_object_bodies(client_for, alice, raw):
    response = client_for(alice).post("/api/v1/dms", raw, content_type="application/json")

    assert response.status_code == 400
    assert not DmConversation.objects.exists()


def test_opening_rejects_a_huge_body_with_413(client_for, alice, bob):
    huge = '{"user_id": "' + str(bob.pk) + '", "pad": "' + "x" * 70_000 + '"}'

    response = client_for(alice).post("/api/v1/dms", huge, content_type="application/json")

    assert response.status_code == 413
    assert not DmConversation.objects.exists()
