import pytest
from django.test import Client
from django.urls import reverse

from presence.models import UserPresence


@pytest.fixture
def staff_client(make_user):
    admin = make_user("root", is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(admin)
    return client


def test_user_admin_changelist_search_and_filters_render(staff_client, make_user):
    make_user("alice", display_name="Alice")

    assert staff_client.get(reverse("admin:accounts_user_changelist")).status_code == 200
    response = staff_client.get(reverse("admin:accounts_user_changelist"), {"q": "alice", "is_active__exact": "1"})
    assert response.status_code == 200
    assert b"alice@example.com" in response.content


def test_user_admin_change_and_add_pages_render(staff_client, make_user):
    alice = make_user("alice")

    assert staff_client.get(reverse("admin:accounts_user_change", args=[alice.pk])).status_code == 200
    assert staff_client.get(reverse("admin:accounts_user_add")).status_code == 200


def test_user_admin_add_lower_cases_username_and_email(staff_client, db):
    from accounts.models import User

    response = staff_client.post(
        reverse("admin:accounts_user_add"),
        {
            "username": "NewUser",
            "email": "New@Example.com",
            "display_name": "New",
            "usable_password": "true",
            "password1": "correct horse battery staple",
            "password2": "correct horse battery staple",
        },
    )

    assert response.status_code == 302, response.content
    assert User.objects.filter(username="newuser", email="new@example.com").exists()


def test_presence_snapshot_admin_renders_read_only(staff_client, make_user):
    alice = make_user("alice")
    row = UserPresence.objects.create(user=alice, status=UserPresence.Status.ONLINE)  # one row per (workspace, user)

    assert staff_client.get(reverse("admin:presence_userpresence_changelist")).status_code == 200
    assert staff_client.get(reverse("admin:presence_userpresence_change", args=[row.pk])).status_code == 200
    assert staff_client.get(reverse("admin:presence_userpresence_add")).status_code == 403


def test_admin_refuses_a_non_staff_user(make_user):
    client = Client()
    client.force_login(make_user("alice"))

    response = client.get(reverse("admin:accounts_user_changelist"))

    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
