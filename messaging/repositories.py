"""Every pymongo call of the project (filled by the messaging work)."""


def ensure_indexes() -> list[str]:
    """Create the MongoDB indexes; return the names of those created."""
    return []
