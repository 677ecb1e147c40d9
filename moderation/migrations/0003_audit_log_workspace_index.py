"""The admin's audit log filtered by workspace, newest first; built concurrently (the
audit log grows with every moderated message)."""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("moderation", "0002_audit_workspace")]

    operations = [
        AddIndexConcurrently(
            model_name="auditlogentry",
            index=models.Index(fields=["workspace", "-created_at"], name="audit_log_workspace"),
        ),
    ]
