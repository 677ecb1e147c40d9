"""Channels belong to a workspace: existing ones move into the default workspace, and
names are unique per workspace (case-insensitive: names are stored lower-cased)."""

import django.db.models.deletion
from django.conf import settings
from django.contrib.postgres.indexes import OpClass
from django.db import migrations, models

import accounts.models


def to_default(apps, schema_editor):
    Workspace = apps.get_model("accounts", "Workspace")
    Channel = apps.get_model("channels_app", "Channel")
    workspace = Workspace.objects.get(slug=settings.DEFAULT_WORKSPACE)
    Channel.objects.filter(workspace__isnull=True).update(workspace=workspace)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_default_workspace"),
        ("channels_app", "0003_channel_members_by_joined"),
    ]

    operations = [
        migrations.AddField(
            model_name="channel",
            name="workspace",
            field=models.ForeignKey(
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="channels",
                to="accounts.workspace",
            ),
        ),
        migrations.RunPython(to_default, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="channel",
            name="workspace",
            field=models.ForeignKey(
                db_index=False,
                default=accounts.models.default_workspace_id,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="channels",
                to="accounts.workspace",
            ),
        ),
        migrations.AlterField(model_name="channel", name="name", field=models.CharField(max_length=80)),
        migrations.AddConstraint(
            model_name="channel",
            constraint=models.UniqueConstraint(fields=("workspace", "name"), name="channels_unique_name_in_workspace"),
        ),
        migrations.AddIndex(
            model_name="channel",
            index=models.Index(
                models.F("workspace"), OpClass("name", name="varchar_pattern_ops"), name="channels_workspace_name_like"
            ),
        ),
    ]
