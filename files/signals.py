"""A file's storage objects leave with its row, whoever deletes it (the API, retention,
a workspace's cascade): once the deleting transaction commits."""

from django.db import transaction
from django.db.models.signals import post_delete
from django.dispatch import receiver

from files import storage
from files.models import File


@receiver(post_delete, sender=File)
def _delete_objects(sender, instance: File, **kwargs) -> None:
    keys = (instance.storage_key, instance.thumbnail_key)
    transaction.on_commit(lambda: storage.delete(*keys))
