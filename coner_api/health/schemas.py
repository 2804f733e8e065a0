"""What the health routes answer."""
from __future__ import annotations

from marshmallow import Schema, fields


class HealthSchema(Schema):
    status = fields.String(required=True, metadata={"example": "ok"})
    db = fields.Boolean(required=True)
    redis = fields.String(required=True, metadata={"description": '"ok", "disabled" or "error"'})


class HealthErrorSchema(Schema):
    status = fields.String(required=True, metadata={"example": "error"})
    error = fields.String(required=True)
    code = fields.String(required=True)


class ReadinessSchema(Schema):
    status = fields.String(required=True, metadata={"description": '"ready" or "not_ready"'})
    services = fields.Dict(keys=fields.String(), values=fields.String(), required=True,
                           metadata={"description": 'database, auth, redis: "ok", "disabled" or an error'})
    error = fields.String(metadata={"description": "present when not ready"})
    code = fields.String(metadata={"description": "present when not ready"})


class AuthHealthSchema(Schema):
    ok = fields.Boolean(required=True)
    service = fields.String(required=True, metadata={"example": "auth"})
