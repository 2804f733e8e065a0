"""Profile bodies the /users tests send: `VALID`, a complete first-time setup that passes every rule."""
from __future__ import annotations

VALID = {
    "full_name": "Alice Smith",
    "dob": "1995-03-15",
    "sex": "female",
    "phone_number": "1234567890",
    "address": "123 Main St, San Francisco, CA 94102",
    "school": "Stanford University",
    "major": "Computer Science",
}
