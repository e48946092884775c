"""The cheap field readers of the hot path agree with the full parsers on real and hostile values."""

from __future__ import annotations

import pytest

from sipwarden.sensors.honeypot.fields import BRANCH, TAG, param_after_uri, uri_user, user_of
from sipwarden.sip.headers import parse_name_addr, parse_via


@pytest.mark.parametrize(
    "value",
    [
        '"100" <sip:100@10.0.0.1>;tag=as5f3c',
        "<sip:100@10.0.0.1;tag=fake>;tag=real",
        '"a>b" <sip:x@y>;tag=1',
        "sip:sipsak@127.0.0.1:60723;tag=6408809f",
        "<sip:nm@nm>;tag=root",
        "<sip:100@h>",
        '"x;tag=no" <sip:100@h>;TAG=yes',
    ],
)
def test_tag_matches_the_name_addr_parser(value: str) -> None:
    assert param_after_uri(value, TAG) == parse_name_addr(value).tag


@pytest.mark.parametrize(
    "value",
    ["SIP/2.0/UDP 10.0.0.5:5062;branch=z9hG4bK-123;rport", "SIP/2.0/TCP nm;branch=foo", "SIP/2.0/UDP h"],
)
def test_branch_matches_the_via_parser(value: str) -> None:
    assert param_after_uri(value, BRANCH) == parse_via(value).branch


@pytest.mark.parametrize(
    ("value", "user"),
    [
        ("sip:9011441234567890@192.0.2.1", "9011441234567890"),
        ("<sip:100:secret@h>;tag=1", "100"),
        ("sips:alice@example.org;transport=tls", "alice"),
        ("sip:192.0.2.1", None),
        ("sip:nm", None),
        ("", None),
        (None, None),
    ],
)
def test_uri_user(value: str | None, user: str | None) -> None:
    assert uri_user(value) == user
    if value and user:
        assert user_of(value) == user


def test_user_of_garbage_is_none() -> None:
    assert user_of("<<<") is None
