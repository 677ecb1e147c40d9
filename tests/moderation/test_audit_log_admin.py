"""The audit log in the admin: read-only, with filters and search."""

from django.contrib import admin
from django.test import Client
from django.urls import reverse

from moderation.models import AuditLogEntry
from moderation.services import AuditRecord, audit_entries_create, audit_entry_create

CHANGELIST = reverse("admin:moderation_auditlogentry_changelist")


def _entries(staff):
    archive = audit_entry_create(
        actor=staff, action="channel_archive", target_type="channel", target_id="c-1", detail={"name": "general"}
    )
    deletes = audit_entries_create(
        actor=staff,
        records=[
            AuditRecord("message_delete", "message", "a" * 24, {"content": "spam <script>"}),
            AuditRecord("message_delete", "message", "b" * 24, {"content": "more spam"}),
        ],
    )
    system = audit_entry_create(actor=None, action="user_deactivate", target_type="user", target_id="u-1")
    return archive, deletes, system


def test_the_changelist_lists_filters_and_searches_entries(staff_client, staff):
    archive, deletes, _system = _entries(staff)

    everything = staff_client.get(CHANGELIST)
    assert everything.status_code == 200
    assert everything.context["cl"].result_count == 4
    assert b"spam &lt;script&gt;" in everything.content
    assert b"(system)" in everything.content

    by_action = staff_client.get(CHANGELIST, {"action__exact": "message_delete"})
    assert {e.pk for e in by_action.context["cl"].result_list} == {e.pk for e in deletes}
    by_type = staff_client.get(CHANGELIST, {"target_type__exact": "channel"})
    assert [e.pk for e in by_type.context["cl"].result_list] == [archive.pk]
    by_target = staff_client.get(CHANGELIST, {"q": "c-1"})
    assert [e.pk for e in by_target.context["cl"].result_list] == [archive.pk]
    by_actor = staff_client.get(CHANGELIST, {"q": "root"})
    assert by_actor.context["cl"].result_count == 3
    this_year = staff_client.get(CHANGELIST, {"created_at__year": str(archive.created_at.year)})
    assert this_year.context["cl"].result_count == 4


def test_an_entry_is_read_only(staff_client, staff):
    archive, _deletes, _system = _entries(staff)

    page = staff_client.get(reverse("admin:moderation_auditlogentry_change", args=[archive.pk]))
    assert page.status_code == 200
    assert b"&quot;name&quot;: &quot;general&quot;" in page.content
    assert b'name="_save"' not in page.content
    assert staff_client.get(reverse("admin:moderation_auditlogentry_add")).status_code == 403
    assert staff_client.post(reverse("admin:moderation_auditlogentry_delete", args=[archive.pk])).status_code == 403
    staff_client.post(CHANGELIST, {"action": "delete_selected", "_selected_action": [archive.pk], "post": "yes"})
    assert AuditLogEntry.objects.filter(pk=archive.pk).exists()


def test_the_actor_name_survives_the_actors_deletion(staff_client, make_user):
    actor = make_user("gone", is_staff=True)
    entry = audit_entry_create(actor=actor, action="channel_delete", target_type="channel", target_id="c-2")
    actor.delete()

    entry.refresh_from_db()
    assert entry.actor_id is None and entry.actor_username == "gone"
    assert b"gone" in staff_client.get(CHANGELIST).content


def test_non_staff_are_sent_to_the_login_page(alice):
    client = Client()
    client.force_login(alice)

    response = client.get(CHANGELIST)

    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_every_registered_admin_changelist_and_change_page_renders(
    staff_client, staff, channel, dm, alice, send, django_capture_on_commit_callbacks
):
    """A smoke test over the whole admin with one object of each model."""
    from messaging.models import MessageSequence
    from presence.models import UserPresence

    send(alice, "hello", channel=channel)
    UserPresence.objects.create(user=alice, status=UserPresence.Status.ONLINE)
    audit_entry_create(actor=staff, action="channel_archive", target_type="channel", target_id=str(channel.pk))
    assert MessageSequence.objects.exists()

    for model, model_admin in admin.site._registry.items():
        opts = model._meta
        changelist = staff_client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))
        assert changelist.status_code == 200, opts.label
        if not opts.managed:
            continue
        obj = model._default_manager.first()
        if obj is not None:
            change = staff_client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk]))
            assert change.status_code == 200, opts.label
        if model_admin.has_add_permission(changelist.wsgi_request):
            assert staff_client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_add")).status_code == 200
