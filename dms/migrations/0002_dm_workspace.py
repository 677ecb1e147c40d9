"""DM conversations belong to a workspace: existing ones move into the default
workspace, and a pair has one conversation per workspace."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

import accounts.models


def to_default(apps, schema_editor):
    Workspace = apps.get_model("accounts", "Workspace")
    DmConversation = apps.get_model("dms", "DmConversation")
    workspace = Workspace.objects.get(slug=settings.DEFAULT_WORKSPACE)
    DmConversation.objects.filter(workspace__isnull=True).update(workspace=workspace)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_default_workspace"),
        ("dms", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="dmconversation",
            name="workspace",
            field=models.ForeignKey(
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="dm_conversations",
                to="accounts.workspace",
            ),
        ),
        migrations.RunPython(to_default, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="dmconversation",
            name="workspace",
            field=models.ForeignKey(
                db_index=False,
                default=accounts.models.default_workspace_id,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="dm_conversations",
                to="accounts.workspace",
            ),
        ),
        migrations.RemoveConstraint(model_name="dmconversation", name="dm_conversations_unique_pair"),
        migrations.AddConstraint(
            model_name="dmconversation",
            constraint=models.UniqueConstraint(
                fields=("workspace", "user1", "user2"), name="dm_conversations_unique_pair"
            ),
        ),
    ]
