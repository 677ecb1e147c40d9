import pytest
from django.test import Client
from django.urls import reverse

from channels_app.models import ChannelMember


@pytest.fixture
def staff_client(make_user):
    client = Client()
    client.force_login(make_user("root", is_staff=True, is_superuser=True))
    return client


@pytest.fixture
def channel(make_user, make_channel):
    return make_channel(make_user("alice"), "general", description="Hello")


def test_channel_admin_changelist_and_search_render(staff_client, channel):
    response = staff_client.get(reverse("admin:channels_app_channel_changelist"), {"q": "gen"})

    assert response.status_code == 200
    assert b"general" in response.content


def test_channel_admin_change_page_renders_with_members_inline(staff_client, channel):
    response = staff_client.get(reverse("admin:channels_app_channel_change", args=[channel["id"]]))

    assert response.status_code == 200
    assert b"memberships" in response.content


def test_channel_member_admin_renders(staff_client, channel):
    membership = ChannelMember.objects.get()

    assert staff_client.get(reverse("admin:channels_app_channelmember_changelist"), {"q": "alice"}).status_code == 200
    assert staff_client.get(reverse("admin:channels_app_channelmember_change", args=[membership.pk])).status_code == 200
