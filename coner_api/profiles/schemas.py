"""Request and response schemas of the /users routes: the profile fields and their rules (docs/api.md,
"Profiles").

Decisions where the contract is silent:
- Strings are stored exactly as sent (no trimming), but a required 1-N string may not be blank or
  whitespace-only, and no string may hold control characters (tab/newline allowed in `address`) or
  unpaired surrogates (Postgres could not store them).
- `null` is refused for every field; the contract clears no field, so nothing here clears one.
- `dob` must be written exactly `YYYY-MM-DD`; "today" is the UTC date; age is in completed years, 0-150.
- A PATCH or PUT /users/me must change at least one field: an empty object is a 400.
- `full_name` or `sex` in a PATCH is refused as a whole (400 LOCKED_FIELD) before any other check; before
  first-time setup the route answers PROFILE_NOT_INITIALIZED instead (routes.locked_after_setup).
"""
from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any

from marshmallow import Schema, ValidationError, fields, pre_load, validate

from ..errors import LockedField
from ..schemas import Body, NonEmptyBody, Text, UtcDateTime, encodable

SEXES = ("male", "female", "other")
LOCKED_MESSAGES = {
    "full_name": "Cannot update full name after first completion",
    "sex": "Cannot update sex after first completion",
}
MAX_AGE_YEARS = 150
PHONE_DOC = {"example": "1234567890", "pattern": "^[0-9]{8,15}$", "description": "8-15 digits only"}

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_PHONE = re.compile(r"[0-9]{8,15}")  # ASCII digits only: \d would also accept other scripts' digits


class PhoneNumber(fields.String):
    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        if not isinstance(value, str) or not _PHONE.fullmatch(value):
            raise ValidationError("Invalid phone number")  # the contract's message: 8-15 digits, nothing else
        return value


class BirthDate(fields.Date):
    """`YYYY-MM-DD`, a real calendar date, not in the future (UTC), age 0 to 150 completed years."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> dt.date:
        # fields.Date alone would also take "20230203" and ISO week dates.
        if not isinstance(value, str) or not _ISO_DATE.fullmatch(value):
            raise ValidationError("Must be a date in YYYY-MM-DD format")
        try:
            born = dt.date.fromisoformat(value)
        except ValueError:
            raise ValidationError("Not a valid date") from None
        today = dt.datetime.now(dt.timezone.utc).date()
        if born > today:
            raise ValidationError("Date of birth cannot be in the future")
        age = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
        if age > MAX_AGE_YEARS:
            raise ValidationError(f"Age must be between 0 and {MAX_AGE_YEARS} years")
        return born


# ---------------------------------------------------------------------------------------- requests
class LegacyProfileUpdateSchema(NonEmptyBody):
    display_name = Text(100, metadata={"example": "Alice Smith"})
    avatar_url = fields.URL(schemes={"http", "https"}, validate=[validate.Length(max=2048), encodable],
                            metadata={"example": "https://cdn.example.com/avatar.png", "maxLength": 2048})


class FirstTimeSetupSchema(Body):
    """Every field is required; the call succeeds once per user."""

    full_name = Text(255, required=True, metadata={"example": "Alice Smith"})
    dob = BirthDate(required=True, metadata={"example": "1995-03-15"})
    sex = fields.String(required=True, validate=validate.OneOf(SEXES), metadata={"example": "female"})
    phone_number = PhoneNumber(required=True, metadata=PHONE_DOC)
    address = Text(500, multiline=True, required=True, metadata={"example": "123 Main St, San Francisco"})
    school = Text(255, required=True, metadata={"example": "Stanford University"})
    major = Text(255, required=True, metadata={"example": "Computer Science"})


class ProfilePatchSchema(NonEmptyBody):
    """Any of dob, phone_number, address, school, major; full_name and sex are locked after setup."""

    dob = BirthDate(metadata={"example": "1995-03-15"})
    phone_number = PhoneNumber(metadata=PHONE_DOC)
    address = Text(500, multiline=True, metadata={"example": "456 Oak Ave, New York, NY 10001"})
    school = Text(255, metadata={"example": "MIT"})
    major = Text(255, metadata={"example": "Computer Science"})

    @pre_load
    def refuse_locked_fields(self, data: Any, **_: Any) -> Any:
        # Raised outside marshmallow's error collection on purpose: the answer is LOCKED_FIELD, not
        # VALIDATION_FAILED, whatever else the body holds.
        if isinstance(data, Mapping):
            locked = {name: [message] for name, message in LOCKED_MESSAGES.items() if name in data}
            if locked:
                raise LockedField(locked)
        return data


# --------------------------------------------------------------------------------------- responses
class LegacyProfileSchema(Schema):
    id = fields.UUID(required=True)
    display_name = fields.String(allow_none=True)
    avatar_url = fields.String(allow_none=True)
    email = fields.String(allow_none=True)
    profession = fields.String(allow_none=True)
    company = fields.String(allow_none=True)
    bio = fields.String(allow_none=True)
    skills = fields.List(fields.String(), allow_none=True)
    work_style = fields.String(allow_none=True, metadata={"enum": ["focus", "collaborative", "flexible"]})
    years_experience = fields.Integer(allow_none=True)
    linkedin_url = fields.String(allow_none=True)
    portfolio_url = fields.String(allow_none=True)
    created_at = UtcDateTime(required=True)
    updated_at = UtcDateTime(required=True)
    last_seen_at = UtcDateTime(required=True)
    is_deleted = fields.Boolean(required=True)


class ProfileSchema(Schema):
    full_name = fields.String(allow_none=True)
    dob = fields.Date(allow_none=True)
    sex = fields.String(allow_none=True, metadata={"enum": list(SEXES)})
    phone_number = fields.String(allow_none=True)
    address = fields.String(allow_none=True)
    school = fields.String(allow_none=True)
    major = fields.String(allow_none=True)
