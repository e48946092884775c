"""Bounded request bodies."""

from __future__ import annotations

from typing import Any, Final

from fastapi import HTTPException, Request

#: Error answers every hub route may give, documented in the OpenAPI schema.
ERROR_RESPONSES: Final[dict[int | str, dict[str, Any]]] = {
    400: {"description": "Bad parameter (the detail says which)"},
    401: {"description": "A key is required, or the key is unknown or revoked"},
    403: {"description": "The key's role does not allow this"},
    404: {"description": "Not found / not listed"},
    413: {"description": "Body too large"},
    422: {"description": "Invalid item (loc names the item and field)"},
    429: {"description": "Rate limit; see Retry-After"},
}


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refusing (413) anything longer than `limit` bytes without reading it all."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"the body is larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(413, f"the body is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
