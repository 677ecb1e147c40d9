"""Data: everything that exists moves into the default workspace (settings.DEFAULT_WORKSPACE,
`open`): every user becomes a member of it (superusers and staff as owners; without any,
the oldest account), and every existing token is bound to that membership."""

from django.conf import settings
from django.db import migrations


def forwards(apps, schema_editor):
    Workspace = apps.get_model("accounts", "Workspace")
    WorkspaceMember = apps.get_model("accounts", "WorkspaceMember")
    TokenWorkspace = apps.get_model("accounts", "TokenWorkspace")
    User = apps.get_model("accounts", "User")
    AuthToken = apps.get_model("knox", "AuthToken")

    slug = settings.DEFAULT_WORKSPACE
    workspace, _ = Workspace.objects.get_or_create(slug=slug, defaults={"name": slug.title(), "joining": "open"})
    users = list(User.objects.order_by("created_at", "id").values_list("id", "is_staff", "is_superuser"))
    if not users:
        return
    owners = {uid for uid, is_staff, is_superuser in users if is_staff or is_superuser} or {users[0][0]}
    WorkspaceMember.objects.bulk_create(
        [
            WorkspaceMember(workspace=workspace, user_id=uid, role="owner" if uid in owners else "member")
            for uid, _staff, _super in users
        ],
        ignore_conflicts=True,
        batch_size=1000,
    )
    member_of = dict(WorkspaceMember.objects.filter(workspace=workspace).values_list("user_id", "id"))
    TokenWorkspace.objects.bulk_create(
        [
            TokenWorkspace(token_id=digest, member_id=member_of[user_id])
            for digest, user_id in AuthToken.objects.values_list("digest", "user_id").iterator()
            if user_id in member_of
        ],
        ignore_conflicts=True,
        batch_size=1000,
    )


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_workspaces"),
        ("knox", "0009_extend_authtoken_field"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
