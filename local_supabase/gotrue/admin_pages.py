"""`GET /admin/users`: a page of users (soft-deleted ones included), sorted, with `X-Total-Count` and `Link`.

GoTrue internal/api/admin.go, adminUsers; sorting.go, sort; pagination.go, paginate / addPaginationHeaders;
models/user.go, FindUsersInAudience.
"""
from __future__ import annotations

import re
from urllib.parse import urlencode

from flask import Response, jsonify, request

from . import models
from .api import ctx
from .apierrors import GoTrueError, bad_request
from .callers import request_aud

DEFAULT_PER_PAGE = 50
_UINT = re.compile(r"[0-9]+")


def _ascending() -> bool:
    """sorting.go, sort: `sort=created_at[ asc|desc]` only, newest first by default; 400 otherwise."""
    values = request.args.getlist("sort")
    for value in values:
        name, _, direction = value.partition(" ")
        if name != "created_at":
            raise bad_request(f"Bad Sort Parameters: bad field for sort '{name}'")
        if " " in value and direction.upper() not in ("ASC", "DESC"):
            raise bad_request(f"Bad Sort Parameters: bad direction for sort '{direction}', only 'asc' and "
                              "'desc' allowed")
    # Every value orders by created_at, so the first one decides.
    return bool(values) and values[0].partition(" ")[2].upper() == "ASC"


def _page_number(name: str, default: int) -> int:
    """pagination.go, paginate: strconv.ParseUint, with its error text."""
    raw = request.args.get(name, "")
    if raw == "":
        return default
    if not _UINT.fullmatch(raw):
        raise bad_request(f'Bad Pagination Parameters: strconv.ParseUint: parsing "{raw}": invalid syntax')
    if int(raw) >= 2 ** 64:
        raise bad_request(f'Bad Pagination Parameters: strconv.ParseUint: parsing "{raw}": '
                          'value out of range')
    return int(raw)


def _link(page: int) -> str:
    query = request.args.to_dict()
    query["page"] = str(page)
    return f"</admin/users?{urlencode(sorted(query.items()))}>"


def list_users() -> Response:
    """A page of users (identities null), newest first unless sorted ascending."""
    ascending = _ascending()
    page, per_page = _page_number("page", 1), _page_number("per_page", DEFAULT_PER_PAGE)
    if per_page == 0:
        # calculateTotalPages divides by per_page: GoTrue panics, and its recoverer answers a bare 500.
        raise GoTrueError(500, "unexpected_failure", "Internal Server Error")
    raw_filter = request.args.get("filter", "")
    pattern = f"%{raw_filter}%" if raw_filter else None
    aud = request_aud(None)  # the caller is an admin: its token's audience does not count
    with ctx().store.transaction() as tx:
        total = tx.one("count_users", {"filter": pattern, "aud": aud})["n"]
        # pop's Paginate counts page 0 as page 1; the headers still use the page asked for.
        rows = tx.all("page_users_oldest_first" if ascending else "page_users_newest_first",
                      {"filter": pattern, "aud": aud, "limit": per_page, "offset": (max(page, 1) - 1) * per_page})
    last_page = (total + per_page - 1) // per_page
    links = [f'{_link(page + 1)}; rel="next"'] if last_page > page else []
    links.append(f'{_link(last_page)}; rel="last"')
    response = jsonify({"users": [models.user_json(row, None) for row in rows], "aud": aud})
    response.headers["X-Total-Count"] = str(total)
    response.headers["Link"] = ", ".join(links)
    return response
