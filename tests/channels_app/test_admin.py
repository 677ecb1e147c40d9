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


# --- Memberships and names go through the API's rules (session 15) ---------------------


def _add(staff_client, channel_id, user):
    return staff_client.post(
        reverse("admin:channels_app_channelmember_add"), {"channel": str(channel_id), "user": str(user.pk)}
    )


def test_staff_adding_a_member_goes_through_the_service(staff_client, channel, make_user, system_messages):
    bob = make_user("bob")
    system_messages.clear()

    response = _add(staff_client, channel["id"], bob)

    assert response.status_code == 302, response.content
    assert ChannelMember.objects.filter(channel_id=channel["id"], user=bob).exists()
    assert system_messages == [(channel["id"], "root added bob")]


def test_staff_cannot_add_someone_of_another_workspace(staff_client, channel, make_user, system_messages):
    from accounts.models import Workspace

    stranger = make_user("stranger", workspace=Workspace.objects.create(slug="other", name="Other"))
    system_messages.clear()

    response = _add(staff_client, channel["id"], stranger)

    assert response.status_code == 200  # the form again, with its error
    assert b"not an active member of the channel&#x27;s workspace" in response.content
    assert not ChannelMember.objects.filter(user=stranger).exists()
    assert system_messages == []


def test_staff_removing_a_member_goes_through_the_service(
    staff_client, channel, make_user, client_for, system_messages, monkeypatch
):
    from realtime import broadcast

    bob = make_user("bob")
    client_for(bob).post(f"/api/v1/channels/{channel['id']}/join")
    left_sockets = []
    monkeypatch.setattr(broadcast, "member_unsubscribe", lambda **kwargs: left_sockets.append(kwargs["user_id"]))
    membership = ChannelMember.objects.get(channel_id=channel["id"], user=bob)
    system_messages.clear()

    response = staff_client.post(
        reverse("admin:channels_app_channelmember_delete", args=[membership.pk]), {"post": "yes"}
    )

    assert response.status_code == 302
    assert not ChannelMember.objects.filter(pk=membership.pk).exists()
    assert left_sockets == [str(bob.pk)]  # bob's sockets leave the channel before it is announced
    assert system_messages == [(channel["id"], "root removed bob")]


def test_staff_cannot_remove_the_last_member_of_a_private_channel(
    staff_client, make_user, make_channel, system_messages
):
    carol = make_user("carol")
    secret = make_channel(carol, "secret", is_private=True)
    membership = ChannelMember.objects.get(channel_id=secret["id"])
    system_messages.clear()

    staff_client.post(reverse("admin:channels_app_channelmember_delete", args=[membership.pk]), {"post": "yes"})

    assert ChannelMember.objects.filter(pk=membership.pk).exists()
    assert system_messages == []


def test_the_channel_page_shows_members_read_only(staff_client, channel):
    response = staff_client.get(reverse("admin:channels_app_channel_change", args=[channel["id"]]))

    assert b'name="memberships-0-user"' not in response.content  # shown, not editable
    assert b'name="memberships-0-DELETE"' not in response.content
    assert b"alice" in response.content


def test_a_name_set_in_the_admin_follows_the_api_rules(staff_client, channel):
    from channels_app.models import Channel

    url = reverse("admin:channels_app_channel_change", args=[channel["id"]])
    rest = {
        "description": "Hello",
        "created_by": channel["created_by"],
        "memberships-TOTAL_FORMS": "0",  # the read-only members
        "memberships-INITIAL_FORMS": "0",
    }
    bad = staff_client.post(url, {"name": "General Chat", **rest})
    good = staff_client.post(url, {"name": "Town-Square", **rest})

    assert bad.status_code == 200 and b"letters, digits" in bad.content
    assert good.status_code == 302
    assert Channel.objects.get(pk=channel["id"]).name == "town-square"


def test_a_name_taken_in_the_workspace_is_a_form_error_not_a_500(staff_client, channel, make_user, make_channel):
    """The form has no workspace field, so Django's unique check skipped the (workspace,
    name) constraint: renaming to a taken name ("Random": lower-cased to "random") was
    an IntegrityError, a 500."""
    from channels_app.models import Channel

    make_channel(make_user("bob"), "random")
    url = reverse("admin:channels_app_channel_change", args=[channel["id"]])
    rest = {
        "description": "Hello",
        "created_by": channel["created_by"],
        "memberships-TOTAL_FORMS": "0",
        "memberships-INITIAL_FORMS": "0",
    }

    response = staff_client.post(url, {"name": "Random", **rest})

    assert response.status_code == 200  # the form again, with its error
    assert b"already exists in this workspace" in response.content
    assert Channel.objects.get(pk=channel["id"]).name == "general"


def test_a_refused_removal_does_not_also_say_deleted_successfully(staff_client, make_user, make_channel):
    carol = make_user("carol")
    secret = make_channel(carol, "secret", is_private=True)
    membership = ChannelMember.objects.get(channel_id=secret["id"])

    response = staff_client.post(
        reverse("admin:channels_app_channelmember_delete", args=[membership.pk]), {"post": "yes"}, follow=True
    )

    shown = [str(m) for m in response.context["messages"]]
    assert any(m.startswith("Not removed:") for m in shown)
    assert not any("successfully" in m for m in shown), shown
    assert ChannelMember.objects.filter(pk=membership.pk).exists()


def test_the_creator_set_in_the_admin_is_of_the_channels_workspace(staff_client, channel, make_user):
    """`created_by` is shown by the API to the channel's workspace: a user of another
    workspace there named someone its members cannot see."""
    from accounts.models import Workspace
    from channels_app.models import Channel

    stranger = make_user("stranger", workspace=Workspace.objects.create(slug="other", name="Other"))
    url = reverse("admin:channels_app_channel_change", args=[channel["id"]])
    rest = {"name": "general", "description": "Hello", "memberships-TOTAL_FORMS": "0", "memberships-INITIAL_FORMS": "0"}

    response = staff_client.post(url, {"created_by": str(stranger.pk), **rest})

    assert response.status_code == 200  # the form again, with its error
    assert b"not a member of the channel&#x27;s workspace" in response.content
    assert str(Channel.objects.get(pk=channel["id"]).created_by_id) == channel["created_by"]


def test_a_channel_archived_between_the_form_and_the_save_is_an_error_not_a_500(
    staff_client, channel, make_user, monkeypatch, system_messages
):
    """The form checks the channel is not archived; an archive committing before the
    service locks the channel made the service's 409 an uncaught exception (500)."""
    from channels_app import services
    from channels_app.admin import ChannelMemberAdmin
    from channels_app.models import Channel

    bob = make_user("bob")
    real_save_form = ChannelMemberAdmin.save_form

    def save_form_archiving_first(self, request, form, change):
        services.channel_archive(channel=Channel.objects.get(pk=channel["id"]), by=request.user)
        return real_save_form(self, request, form, change)

    monkeypatch.setattr(ChannelMemberAdmin, "save_form", save_form_archiving_first)
    staff_client.raise_request_exception = False

    response = _add(staff_client, channel["id"], bob)

    assert response.status_code == 302, response.status_code
    shown = [str(m) for m in staff_client.get(response["Location"]).context["messages"]]
    assert any(m.startswith("Not added:") for m in shown), shown
    assert not ChannelMember.objects.filter(user=bob).exists()
