"""The CDR follower: new lines only, rotation and truncation, saved positions, unfinished lines."""

from __future__ import annotations

import os
from pathlib import Path

from sipwarden.sensors.cdr.follow import CdrFollower


def texts(follower: CdrFollower) -> str:
    return "".join(c.text for c in follower.poll())


def test_starts_at_the_end_then_reads_new_lines(tmp_path: Path) -> None:
    path = tmp_path / "Master.csv"
    path.write_text("old1\nold2\n")
    f = CdrFollower([str(path)])
    assert texts(f) == ""
    with path.open("a") as fh:
        fh.write("new1\nnew2\n")
    chunks = f.poll()
    assert [c.text for c in chunks] == ["new1\nnew2\n"]
    assert texts(f) == ""


def test_from_start_and_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "Master.csv"
    path.write_text("a\nb\n")
    f = CdrFollower([str(path)], start_at_end=False)
    first = f.poll()
    assert first[0].text == "a\nb\n" and first[0].first_line == 1
    with path.open("a") as fh:
        fh.write("c\n")
    assert f.poll()[0].first_line == 3


def test_partial_line_waits_until_complete_or_still(tmp_path: Path) -> None:
    path = tmp_path / "Master.csv"
    path.write_text("")
    f = CdrFollower([str(path)])
    f.poll()
    with path.open("a") as fh:
        fh.write("whole\npart")
    assert texts(f) == "whole\n"
    with path.open("a") as fh:
        fh.write("ial")
    assert texts(f) == ""  # still growing
    assert texts(f) == "partial"  # did not grow for a poll: delivered


def test_rotation_reads_the_rest_of_the_old_file_then_the_new_one(tmp_path: Path) -> None:
    path = tmp_path / "Master.csv"
    path.write_text("")
    f = CdrFollower([str(path)])
    f.poll()
    with path.open("a") as fh:
        fh.write("one\n")
    assert texts(f) == "one\n"
    with path.open("a") as fh:
        fh.write("two\n")  # written just before logrotate renames the file
    os.rename(path, tmp_path / "Master.csv.1")
    path.write_text("three\n")
    assert texts(f) == "two\nthree\n"


def test_truncation_reads_from_the_start(tmp_path: Path) -> None:
    path = tmp_path / "Master.csv"
    path.write_text("")
    f = CdrFollower([str(path)])
    f.poll()
    path.write_text("aaaa\nbbbb\n")
    assert texts(f) == "aaaa\nbbbb\n"
    path.write_text("c\n")  # copytruncate, then a short new record
    assert texts(f) == "c\n"


def test_positions_survive_a_restart(tmp_path: Path) -> None:
    path, state = tmp_path / "Master.csv", tmp_path / "state" / "pos.json"
    path.write_text("")
    f = CdrFollower([str(path)], state)
    f.poll()
    path.write_text("a\n")
    assert texts(f) == "a\n"
    f.save_state()
    f.close()
    with path.open("a") as fh:
        fh.write("b\n")  # written while sipwarden was down
    g = CdrFollower([str(path)], state)
    assert texts(g) == "b\n"
    g.close()


def test_glob_picks_up_new_files_from_their_start(tmp_path: Path) -> None:
    (tmp_path / "a.cdr.json").write_text('{"old": 1}')
    f = CdrFollower([str(tmp_path / "*.cdr.json")])
    assert texts(f) == ""
    (tmp_path / "b.cdr.json").write_text('{\n  "new": 2\n}')
    assert texts(f) == '{\n  "new": 2\n'
    assert texts(f) == "}"


def test_corrupt_state_file_is_ignored(tmp_path: Path) -> None:
    state = tmp_path / "pos.json"
    state.write_text("{not json")
    path = tmp_path / "Master.csv"
    path.write_text("a\n")
    f = CdrFollower([str(path)], state)
    assert texts(f) == ""  # started afresh, at the end
    (tmp_path / "missing.csv").unlink(missing_ok=True)
    assert CdrFollower([str(tmp_path / "missing.csv")]).poll() == []
