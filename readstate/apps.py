from django.apps import AppConfig


class ReadstateConfig(AppConfig):
    name = "readstate"
    verbose_name = "Read state and notifications"
