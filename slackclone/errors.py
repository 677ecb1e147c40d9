"""The domain's exceptions.

Services and selectors raise these; the REST exception handler
(`slackclone.api.exceptions`) and the WebSocket consumer turn them into the same
error envelope: {"error": {"code", "message", "fields"?}}.
"""


class DomainError(Exception):
    status = 400
    code = "bad_request"
    default_message = "The request could not be processed."

    def __init__(self, message: str | None = None, *, code: str | None = None):
        super().__init__(message or self.default_message)
        self.message = message or self.default_message
        if code:
            self.code = code

    def as_dict(self) -> dict:
        return {"code": self.code, "message": self.message}


class ValidationFailed(DomainError):
    status = 400
    code = "invalid"
    default_message = "The request is not valid."

    def __init__(self, message: str | None = None, *, fields: dict[str, list[str]] | None = None, code=None):
        super().__init__(message, code=code)
        self.fields = fields or {}

    def as_dict(self) -> dict:
        data = super().as_dict()
        if self.fields:
            data["fields"] = self.fields
        return data


class PermissionDenied(DomainError):
    status = 403
    code = "permission_denied"
    default_message = "You are not allowed to do this."


class NotFound(DomainError):
    status = 404
    code = "not_found"
    default_message = "Not found."


class Conflict(DomainError):
    status = 409
    code = "conflict"
    default_message = "This conflicts with an existing object."


class PayloadTooLarge(DomainError):
    """A body or an upload over its limit (MAX_REQUEST_BODY_BYTES, MAX_UPLOAD_BYTES)."""

    status = 413
    code = "payload_too_large"
    default_message = "The request body is too large."


class Throttled(DomainError):
    """Over the user's write budget (THROTTLE_WRITE): 429 with `Retry-After` over REST;
    over the WebSocket an `error` frame whose error carries `retry_after` (seconds)."""

    status = 429
    code = "throttled"

    def __init__(self, retry_after: int, message: str | None = None):
        super().__init__(message or f"Request was throttled. Expected available in {retry_after} seconds.")
        self.retry_after = retry_after

    def as_dict(self) -> dict:
        return {**super().as_dict(), "retry_after": self.retry_after}


class Busy(DomainError):
    """Too much work queued for one thing (e.g. sends into one hot conversation): shed
    at once, answered 429 with `Retry-After` (`retry_after` seconds), before any of it
    is stored."""

    status = 429
    code = "busy"
    default_message = "Too many requests are queued here; try again shortly."

    def __init__(self, message: str | None = None, *, code: str | None = None, retry_after: int = 1):
        super().__init__(message, code=code)
        self.retry_after = retry_after

    def as_dict(self) -> dict:
        return {**super().as_dict(), "retry_after": self.retry_after}


class StoreUnavailable(DomainError):
    """A backing store (postgres, mongo, redis) did not answer in time."""

    status = 503
    code = "store_unavailable"

    def __init__(self, store: str, message: str | None = None):
        super().__init__(message or f"The {store} store is unavailable; try again shortly.")
        self.store = store

    def __reduce__(self):
        # copy.copy (a group commit's senders each raise their own copy) and pickling
        # rebuild from these arguments; the default, (message,), made the store the
        # message: "The The mongo store is unavailable; ... store is unavailable".
        return (type(self), (self.store, self.message), self.__dict__)
