# The members list is keyset-paged on (joined_at, id) within a channel: this index
# serves it without a sort. Built CONCURRENTLY so that a large channel_members table
# keeps taking joins and leaves while it is built (hence not atomic).

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("channels_app", "0002_channel_archived_at"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="channelmember",
            index=models.Index(fields=["channel", "joined_at", "id"], name="channel_members_by_joined"),
        ),
    ]
