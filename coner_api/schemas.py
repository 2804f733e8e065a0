"""Schema parts every feature uses: the error body, the request-body base class and the field types with
the contract's text, e-mail and password rules (docs/api.md, "Conventions")."""
from __future__ import annotations

import datetime as dt
import re
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

MAX_PASSWORD_BYTES = 72  # bcrypt's limit, enforced by Supabase Auth too

# Unicode's control characters (category Cc): C0, DEL and C1 (U+0080-U+009F, among them NEL, U+0085, a line
# break to some readers of logs and exports).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_CONTROL_EXCEPT_WHITESPACE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


class ErrorSchema(Schema):
    error = fields.String(required=True)
    code = fields.String(required=True)
    details = fields.Dict(keys=fields.String(), values=fields.List(fields.String()))
    request_id = fields.String()


NOT_AN_OBJECT = "Request body must be a JSON object"


class Body(Schema):
    """A JSON object body: unknown keys are refused."""

    class Meta:
        unknown = RAISE

    error_messages = {"type": NOT_AN_OBJECT}


class NonEmptyBody(Body):
    @validates_schema
    def at_least_one_field(self, data: dict[str, Any], **_: Any) -> None:
        if not data:
            raise ValidationError("At least one field must be provided")


def password_rules(value: str) -> None:
    """8 characters to 72 bytes, checked as received: never trimmed or truncated (ASVS 6.2.8), counted in
    UTF-8 bytes like bcrypt."""
    if len(value) < 8:
        raise ValidationError("Password must be at least 8 characters long")
    max_password_bytes(value)


def max_password_bytes(value: str) -> None:
    # The body parser has already refused strings that are not encodable (lone surrogates).
    if len(value.encode("utf-8")) > MAX_PASSWORD_BYTES:
        raise ValidationError("Password must be at most 72 bytes (UTF-8)")


class EmailField(fields.Email):
    """An e-mail address, trimmed and lower-cased before it is checked: Supabase Auth lower-cases addresses
    but does not trim them, so " Ada@Example.com " would otherwise be refused at sign-up and never match at
    sign-in. Quoted local parts and control characters are refused (marshmallow would take `"\x01"@a.io`)."""

    default_error_messages = {"invalid": "Please provide a valid email address"}

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", True)
        super().__init__(validate=validate.Length(max=254), **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        address = text.strip().lower()
        if _CONTROL.search(address) or '"' in address:
            raise self.make_error("invalid")
        return address


class Token(fields.String):
    """A one-time code or refresh token: 1 to `max_length` printable ASCII characters, no spaces (every token
    Supabase Auth issues is one; anything else cannot match, and some of it could not even be sent)."""

    def __init__(self, max_length: int, **kwargs: Any) -> None:
        super().__init__(validate=[validate.Length(min=1, max=max_length), _printable_ascii],
                         metadata={"pattern": "^[!-~]+$"}, **kwargs)


_PRINTABLE_ASCII = re.compile(r"[!-~]+")


def _printable_ascii(text: str) -> None:
    if not _PRINTABLE_ASCII.fullmatch(text):
        raise ValidationError("Must be printable ASCII without spaces")


def encodable(text: str) -> None:
    """Postgres stores UTF-8; a JSON body can still carry an unpaired surrogate ("\\ud800")."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError("Must be valid Unicode text") from None


class Text(fields.String):
    """A string of 1 to `max_length` characters that is not blank, has no control characters and is valid UTF-8."""

    def __init__(self, max_length: int, *, multiline: bool = False, **kwargs: Any) -> None:
        metadata = {"minLength": 1, "maxLength": max_length, **kwargs.pop("metadata", {})}  # OpenAPI
        super().__init__(metadata=metadata, **kwargs)
        self.max_length = max_length
        self.control = _CONTROL_EXCEPT_WHITESPACE if multiline else _CONTROL

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if not 1 <= len(text) <= self.max_length:
            raise ValidationError(f"Must be between 1 and {self.max_length} characters")
        if not text.strip():
            raise ValidationError("Must not be blank")
        if self.control.search(text):
            raise ValidationError("Must not contain control characters")
        encodable(text)
        return text


class UtcDateTime(fields.DateTime):
    """Timestamps as ISO 8601 in UTC with milliseconds and a Z: `2025-01-15T10:30:00.000Z`."""

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        if value is None:
            return None
        utc = value.astimezone(dt.timezone.utc)
        return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


class Uuid(fields.UUID):
    """A UUID written as RFC 9562 writes one: 8-4-4-4-12 hexadecimal digits, either case. marshmallow's own
    takes whatever `uuid.UUID` does (braces, `urn:uuid:`, no hyphens), which names the same id in spellings
    no client of ours writes: a 400 here, not a look-up."""

    _CANONICAL = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\Z")

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        if not isinstance(value, str) or not self._CANONICAL.match(value):
            raise self.make_error("invalid_uuid")
        return super()._deserialize(value, attr, data, **kwargs)


class QueryInteger(fields.Integer):
    """A whole number in a query string, as ASCII digits with an optional minus (which the field's range then
    refuses by name): `int()` would also take "+1", " 1", "1_0" and non-ASCII digits ("１"), each a
    spelling no client means."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        digits = value[1:] if isinstance(value, str) and value.startswith("-") else value
        if not isinstance(digits, str) or not digits.isascii() or not digits.isdigit():
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


class StrictBoolean(fields.Boolean):
    """JSON's true or false only: marshmallow's Boolean also takes 1, "yes", "on"... and since 1 == True in
    Python, even `truthy={True}` lets 1 and 1.0 through."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        if type(value) is not bool:
            raise self.make_error("invalid")
        return value
