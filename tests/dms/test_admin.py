import pytest
from django.test import Client
from django.urls import reverse

from dms.models import DmConversation
from dms.services import dm_pair


@pytest.fixture
def staff_client(make_user):
    client = Client()
    client.force_login(make_user("root", is_staff=True, is_superuser=True))
    return client


def test_dm_admin_changelist_search_and_change_page_render(staff_client, make_user):
    a, b = make_user("alice"), make_user("bob")
    user1, user2 = dm_pair(a.pk, b.pk)
    conversation = DmConversation.objects.create(user1_id=user1, user2_id=user2)

    response = staff_client.get(reverse("admin:dms_dmconversation_changelist"), {"q": "alice"})
    assert response.status_code == 200
    assert str(conversation.pk).encode() in response.content
    assert (
        staff_client.get(reverse("admin:dms_dmconversation_changelist"), {"q": str(conversation.pk)}).status_code == 200
    )
    assert staff_client.get(reverse("admin:dms_dmconversation_change", args=[conversation.pk])).status_code == 200
