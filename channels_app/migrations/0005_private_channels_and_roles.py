# Issue 16: private channels, topics and channel roles. The three columns have constant
# defaults, so PostgreSQL (11+) adds them without rewriting the tables. The creator of
# each existing channel becomes its first manager (if still a member).

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('channels_app', '0004_channel_workspace'),
    ]

    operations = [
        migrations.AddField(
            model_name='channel',
            name='is_private',
            field=models.BooleanField(default=False),
        ),
        migrations.AddField(
            model_name='channel',
            name='topic',
            field=models.CharField(blank=True, default='', max_length=250),
        ),
        migrations.AddField(
            model_name='channelmember',
            name='role',
            field=models.CharField(choices=[('manager', 'Manager'), ('member', 'Member')], default='member', max_length=8),
        ),
        migrations.RunSQL(
            sql="""
                UPDATE channel_members m SET role = 'manager'
                FROM channels c
                WHERE c.id = m.channel_id AND c.created_by_id = m.user_id
            """,
            reverse_sql=migrations.RunSQL.noop,
        ),
    ]
