"""Writes of the audit log. Called by the services that make a moderation change, in
their own transaction (or right after MongoDB acknowledged a message change)."""

from dataclasses import dataclass, field

from moderation.models import AuditLogEntry


@dataclass(frozen=True, slots=True)
class AuditRecord:
    action: str  # an AuditLogEntry.Action value
    target_type: str  # an AuditLogEntry.TargetType value
    target_id: str
    detail: dict = field(default_factory=dict)
    workspace_id: object = None  # the workspace the act happened in (None: server-wide)


def _entry(*, actor, record: AuditRecord) -> AuditLogEntry:
    return AuditLogEntry(
        workspace_id=record.workspace_id,
        actor=actor if getattr(actor, "pk", None) is not None else None,
        actor_username=getattr(actor, "username", "") or "",
        action=record.action,
        target_type=record.target_type,
        target_id=str(record.target_id),
        detail=record.detail,
    )


def audit_entry_create(
    *, actor, action: str, target_type: str, target_id: str, detail: dict | None = None, workspace_id=None
) -> AuditLogEntry:
    """Record one moderation act by `actor` (a user, or None for the system), in
    `workspace_id`'s workspace (None: a server-wide act)."""
    entry = _entry(
        actor=actor,
        record=AuditRecord(
            action=action, target_type=target_type, target_id=target_id, detail=detail or {}, workspace_id=workspace_id
        ),
    )
    entry.save(force_insert=True)
    return entry


def audit_entries_create(*, actor, records: list[AuditRecord]) -> list[AuditLogEntry]:
    """Record several acts of one actor in one INSERT (bulk message moderation)."""
    if not records:
        return []
    return AuditLogEntry.objects.bulk_create([_entry(actor=actor, record=record) for record in records])
