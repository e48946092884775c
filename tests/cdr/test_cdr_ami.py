"""The AMI client against a loopback AMI-speaking server."""

from __future__ import annotations

import pytest
from amiserver import FakeAmi

from sipwarden.sensors.cdr.ami import AmiError, AmiParser, ami_session, hangup_fields, serialize_action


async def test_login_hangup_logoff() -> None:
    ami = await FakeAmi().start()
    try:
        results = await ami_session(
            "127.0.0.1", ami.port, ami.username, ami.secret, [("Hangup", hangup_fields("1004"))]
        )
    finally:
        await ami.stop()
    assert results[0]["Response"] == "Success"
    assert [a["Action"] for a in ami.actions] == ["Login", "Hangup", "Logoff"]
    assert ami.actions[1]["Channel"] == "/^(PJSIP|SIP|IAX2)\\/1004-.*$/"


async def test_command_output_is_joined() -> None:
    ami = await FakeAmi().start()
    try:
        results = await ami_session(
            "127.0.0.1", ami.port, ami.username, ami.secret, [("Command", {"Command": "core show channels"})]
        )
    finally:
        await ami.stop()
    assert results[0]["Output"] == "line one\nline two"


async def test_wrong_secret_is_refused() -> None:
    ami = await FakeAmi().start()
    try:
        with pytest.raises(AmiError, match="login refused"):
            await ami_session("127.0.0.1", ami.port, ami.username, "wrong", [("Hangup", hangup_fields("1004"))])
    finally:
        await ami.stop()
    assert [a["Action"] for a in ami.actions] == ["Login"]


def test_injection_through_values_is_refused() -> None:
    with pytest.raises(ValueError):
        serialize_action("Hangup", {"Channel": "x\r\nAction: Originate"}, "1")
    with pytest.raises(ValueError):
        hangup_fields("1004\r\nAction: Command")
    with pytest.raises(ValueError):
        hangup_fields("1004 .*")


def test_parser_handles_split_input_and_bounds() -> None:
    p = AmiParser()
    assert p.feed(b"Asterisk Call Manager/5.0\r\nResponse: Succ") == []
    assert p.banner == "Asterisk Call Manager/5.0"
    assert p.feed(b"ess\r\nActionID: 1\r\n\r\n") == [{"Response": "Success", "ActionID": "1"}]
    with pytest.raises(AmiError):
        p.feed(b"x" * (1024 * 1024 + 1))
