from django.apps import AppConfig


class FilesConfig(AppConfig):
    name = "files"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from files import signals  # noqa: F401  (storage objects follow their rows)
