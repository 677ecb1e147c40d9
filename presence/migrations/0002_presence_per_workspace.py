"""Presence snapshots per (workspace, user): the old one-row-per-user table is renamed,
a new one created, its rows copied into the default workspace, and the old one dropped.
(The table is an analytics snapshot only: nothing reads it for decisions.)"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

import accounts.models


def copy_rows(apps, schema_editor):
    Workspace = apps.get_model("accounts", "Workspace")
    Legacy = apps.get_model("presence", "LegacyUserPresence")
    UserPresence = apps.get_model("presence", "UserPresence")
    workspace = Workspace.objects.get(slug=settings.DEFAULT_WORKSPACE)
    UserPresence.objects.bulk_create(
        [
            UserPresence(workspace=workspace, user_id=row.user_id, status=row.status, last_seen_at=row.last_seen_at)
            for row in Legacy.objects.iterator()
        ],
        batch_size=1000,
    )


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_default_workspace"),
        ("presence", "0001_initial"),
    ]

    operations = [
        migrations.RenameModel("UserPresence", "LegacyUserPresence"),
        migrations.AlterModelTable("LegacyUserPresence", "user_presence_legacy"),
        migrations.CreateModel(
            name="UserPresence",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                (
                    "status",
                    models.CharField(
                        choices=[("ONLINE", "Online"), ("OFFLINE", "Offline")], default="OFFLINE", max_length=8
                    ),
                ),
                ("last_seen_at", models.DateTimeField(blank=True, null=True)),
                (
                    "workspace",
                    models.ForeignKey(
                        db_index=False,
                        default=accounts.models.default_workspace_id,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="accounts.workspace",
                    ),
                ),
                (
                    "user",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="+", to=settings.AUTH_USER_MODEL
                    ),
                ),
            ],
            options={
                "db_table": "user_presence",
                "verbose_name_plural": "user presence",
                "constraints": [
                    models.UniqueConstraint(fields=("workspace", "user"), name="user_presence_unique_pair")
                ],
            },
        ),
        migrations.RunPython(copy_rows, migrations.RunPython.noop),
        migrations.DeleteModel("LegacyUserPresence"),
    ]
