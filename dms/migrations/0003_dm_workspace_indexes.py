"""A user's DMs in a workspace, newest first (GET /dms): one index per side of the pair,
built concurrently (the table grows with every pair that ever talked)."""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("dms", "0002_dm_workspace")]

    operations = [
        AddIndexConcurrently(
            model_name="dmconversation",
            index=models.Index(fields=["workspace", "user1", "-created_at"], name="dm_conversations_ws_user1"),
        ),
        AddIndexConcurrently(
            model_name="dmconversation",
            index=models.Index(fields=["workspace", "user2", "-created_at"], name="dm_conversations_ws_user2"),
        ),
    ]
