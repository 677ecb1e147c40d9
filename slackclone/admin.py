"""Admin pieces shared by the apps."""


class ReadOnlyAdminMixin:
    """A ModelAdmin whose rows can be looked at, never added, changed or deleted here
    (snapshots, counters, audit entries: their owners write them)."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
