"""`GET /admin/users`: a page of users (soft-deleted ones included), sorted, with `X-Total-Count` and `Link`.

GoTrue internal/api/admin.go, adminUsers; sorting.go, sort; pagination.go, paginate / addPaginationHeaders;
models/user.go, FindUsersInAudience.
"""
from __future__ import annotations

import re

from flask import Response, jsonify, request

from . import models
from .api import ctx
from .apierrors import GoTrueError, Panic, bad_request
from .callers import request_aud
from .redirects import encode_values

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
    """pagination.go, addPaginationHeaders: the request's query with `page` set (url.Values: repeated keys
    kept, keys sorted)."""
    pairs = [(key, value) for key, value in request.args.items(multi=True) if key != "page"]
    pairs.append(("page", str(page)))
    return f"</admin/users?{encode_values(pairs)}>"


def _go_int(value: int) -> int:
    """Go's int(uint64) on a 64-bit machine: values from 2**63 on turn negative."""
    return value - 2 ** 64 if value >= 2 ** 63 else value


def _window(page: int, per_page: int) -> tuple[int, int]:
    """(limit, offset) as pop's Paginate makes them from int(page) and int(per_page): a page below 1 is 1, a
    page size below 1 is 20; the offset is an int64 product, which may wrap (then Postgres refuses it)."""
    page, per_page = max(_go_int(page), 1), _go_int(per_page)
    per_page = per_page if per_page >= 1 else 20
    offset = ((page - 1) * per_page + 2 ** 63) % 2 ** 64 - 2 ** 63
    if offset < 0:  # OFFSET must not be negative: models.FindUsersInAudience's error
        raise GoTrueError(500, "unexpected_failure", "Database error finding users")
    return per_page, offset


def list_users() -> Response:
    """A page of users (identities null), newest first unless sorted ascending."""
    ascending = _ascending()
    page, per_page = _page_number("page", 1), _page_number("per_page", DEFAULT_PER_PAGE)
    if per_page == 0:
        # calculateTotalPages divides by per_page: GoTrue panics, and its recoverer answers a bare 500.
        raise Panic()
    raw_filter = request.args.get("filter", "")
    pattern = f"%{raw_filter}%" if raw_filter else None
    aud = request_aud(None)  # the caller is an admin: its token's audience does not count
    limit, offset = _window(page, per_page)  # the headers still use the numbers asked for
    with ctx().store.transaction() as tx:
        total = tx.one("count_users", {"filter": pattern, "aud": aud})["n"]
        rows = tx.all("page_users_oldest_first" if ascending else "page_users_newest_first",
                      {"filter": pattern, "aud": aud, "limit": limit, "offset": offset})
    last_page = (total + per_page - 1) // per_page
    links = [f'{_link(page + 1)}; rel="next"'] if last_page > page else []
    links.append(f'{_link(last_page)}; rel="last"')
    response = jsonify({"users": [models.user_json(row, None) for row in rows], "aud": aud})
    response.headers["X-Total-Count"] = str(total)
    response.headers["Link"] = ", ".join(links)
    return response
