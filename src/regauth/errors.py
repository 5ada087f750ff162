"""The one error tree of regauth.

Every error a client may see is a :class:`ProblemError`: it carries a stable
machine ``code`` (SPEC §3), an HTTP ``status`` and a ``title``; the web edge
renders it as RFC 9457 ``application/problem+json``. ``detail`` is written for
the client and must never contain secrets or backend exception text.

    RegauthError
    ├── ProblemError                      (rendered to clients)
    │   ├── RequestError          400     request.* (also 404, 405, 413 and other HTTP errors)
    │   ├── AuthenticationError   401     auth.* (adds WWW-Authenticate)
    │   ├── ForbiddenError        403     auth.scope_denied, auth.license_revoked, ui.csrf_rejected
    │   ├── PageNotFound          404     ui.not_found
    │   ├── ThrottledError        429     auth.throttled
    │   ├── SignatureRejected     401     signature.* (signed callbacks; no WWW-Authenticate)
    │   ├── EventsError           4xx     events.*, access.* (notifications, approvals)
    │   ├── UnavailableError      503     auth.jwks_unavailable, auth.backend_unavailable
    │   └── AdminError                    admin.* (the administration layer)
    │       ├── AdminInvalid      422     admin.invalid (names the fields at fault)
    │       ├── AdminForbidden    403     admin.forbidden (the actor lacks a permission)
    │       ├── AdminNotFound     404     admin.not_found
    │       ├── AdminConflict     409     admin.conflict
    │       └── AdminStale        412     admin.stale (the list changed since it was read)
    └── ConfigError                       (our own configuration is bad; stops start-up)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar


class RegauthError(Exception):
    """Base of every error raised on purpose by regauth."""


class ProblemError(RegauthError):
    """An error with a problem document for the client."""

    status: ClassVar[int] = 500
    code: str = "internal"
    title: str = "Internal error"
    oauth_error: ClassVar[str | None] = None

    def __init__(self, detail: str = "", *, code: str | None = None, title: str | None = None):
        super().__init__(detail or self.title)
        self.detail = detail
        if code is not None:
            self.code = code
        if title is not None:
            self.title = title


class RequestError(ProblemError):
    status = 400
    code = "request.malformed"
    title = "Malformed request"
    oauth_error = "invalid_request"


class MalformedScope(RequestError):
    code = "request.malformed_scope"
    title = "Malformed scope"
    oauth_error = "invalid_scope"


class UnknownService(RequestError):
    code = "request.unknown_service"
    title = "Unknown service"


class UnsupportedGrant(RequestError):
    code = "request.unsupported_grant_type"
    title = "Unsupported grant type"
    oauth_error = "unsupported_grant_type"


class NotFoundError(RequestError):
    status = 404
    code = "request.not_found"
    title = "Not found"


class MethodNotAllowed(RequestError):
    status = 405
    code = "request.method_not_allowed"
    title = "Method not allowed"


class PayloadTooLarge(RequestError):
    status = 413
    code = "request.too_large"
    title = "Request body too large"


class AuthenticationError(ProblemError):
    status = 401
    code = "auth.invalid_credential"
    title = "Invalid credential"
    oauth_error = "invalid_grant"


class MissingCredential(AuthenticationError):
    code = "auth.missing_credential"
    title = "Missing credential"


class MalformedCredential(AuthenticationError):
    code = "auth.malformed_credential"
    title = "Malformed credential"


class InvalidCredential(AuthenticationError):
    code = "auth.invalid_credential"
    title = "Invalid credential"


class TokenExpired(AuthenticationError):
    code = "auth.token_expired"
    title = "Token expired"


class KidUnknown(AuthenticationError):
    code = "auth.kid_unknown"
    title = "Unknown signing key"


class DpopInvalid(AuthenticationError):
    code = "auth.dpop_invalid"
    title = "Invalid DPoP proof"


class SenderConstraintRequired(AuthenticationError):
    code = "auth.sender_constraint_required"
    title = "Sender-constrained token required"


class ForbiddenError(ProblemError):
    status = 403
    code = "auth.scope_denied"
    title = "Scope denied"
    oauth_error = "access_denied"


class ScopeDenied(ForbiddenError):
    code = "auth.scope_denied"
    title = "Scope denied"


class LicenseRevoked(ForbiddenError):
    code = "auth.license_revoked"
    title = "Licence revoked"


class CsrfRejected(ForbiddenError):
    code = "ui.csrf_rejected"
    title = "Request refused"


class PageNotFound(ProblemError):
    status = 404
    code = "ui.not_found"
    title = "Not found"


class ThrottledError(ProblemError):
    status = 429
    code = "auth.throttled"
    title = "Too many failed attempts"

    def __init__(self, detail: str = "", *, retry_after: int = 1):
        super().__init__(detail)
        self.retry_after = retry_after


class UnavailableError(ProblemError):
    """503, with ``Retry-After: retry_after`` seconds."""

    status = 503
    code = "service.unavailable"
    title = "Service unavailable"
    oauth_error = "temporarily_unavailable"
    retry_after: int = 1


class JwksUnavailable(UnavailableError):
    code = "auth.jwks_unavailable"
    title = "Identity provider keys unavailable"


class BackendUnavailable(UnavailableError):
    code = "auth.backend_unavailable"
    title = "Identity backend unavailable"


class AdminError(ProblemError):
    """A use case of ``regauth.admin`` refused the change; nothing was written."""

    status = 400
    code = "admin.error"
    title = "Administration request refused"


class AdminInvalid(AdminError):
    """Input failed validation. ``fields`` maps each field at fault to why.

    The detail lists them as ``field: why; field: why`` so a one-line CLI
    message names every field too.
    """

    status = 422
    code = "admin.invalid"
    title = "Invalid input"

    def __init__(self, fields: Mapping[str, str]):
        self.fields: dict[str, str] = dict(fields)
        super().__init__("; ".join(f"{k}: {v}" for k, v in self.fields.items()))


class AdminForbidden(AdminError):
    status = 403
    code = "admin.forbidden"
    title = "Permission required"


class AdminNotFound(AdminError):
    status = 404
    code = "admin.not_found"
    title = "Not found"


class AdminConflict(AdminError):
    status = 409
    code = "admin.conflict"
    title = "Conflict"


class SignatureRejected(ProblemError):
    """A signed callback whose signature is not acceptable (seed 003)."""

    status = 401
    code = "signature.invalid"
    title = "Signature rejected"


class SignatureMissing(SignatureRejected):
    code = "signature.missing"
    title = "Missing signature"


class SignatureMalformed(SignatureRejected):
    code = "signature.malformed"
    title = "Malformed signature"


class SignatureInvalid(SignatureRejected):
    code = "signature.invalid"
    title = "Invalid signature"


class SignatureStale(SignatureRejected):
    code = "signature.stale"
    title = "Signature timestamp outside the tolerance"


class SignatureReplayed(SignatureRejected):
    code = "signature.replayed"
    title = "Signature already used"


class EventsError(ProblemError):
    """Registry notifications and access approvals."""

    status = 400
    code = "events.malformed"
    title = "Malformed event"


class EventsUnauthorized(EventsError):
    status = 401
    code = "events.unauthorized"
    title = "Notification sender not authenticated"


class CredentialInUrl(EventsError):
    code = "request.credential_in_url"
    title = "Credentials are not accepted in the URL"


class AccessNotFound(EventsError):
    status = 404
    code = "access.not_found"
    title = "No such access request"


class AccessConflict(EventsError):
    status = 409
    code = "access.already_decided"
    title = "Access request already decided"


class AdminStale(AdminError):
    """The caller edited a version it read (``If-Match``) and the data has changed since."""

    status = 412
    code = "admin.stale"
    title = "Changed since it was read"


class ConfigError(RegauthError):
    """Our own configuration (or key material) is unusable.

    ``path`` is the dotted configuration path at fault, when there is one.
    """

    def __init__(self, message: str, *, path: str = ""):
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        self.message = message
