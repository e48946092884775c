"""A store seeded with the scenario incident (and a real WAV recording), and the dashboard over it."""

from __future__ import annotations

import math
import struct
import wave
from collections.abc import Iterator
from pathlib import Path

import pytest
from bench.intel_data import scenario_events
from fastapi import FastAPI

from sipwarden.config import Settings, settings_from_mapping
from sipwarden.hub.ui import ui_router
from sipwarden.hub.ui.auth import hash_password
from sipwarden.store import Store

ADMIN_PASSWORD = "correct horse battery staple"


def write_wav(path: Path, seconds: float = 2.0, rate: int = 8000) -> None:
    """A 440 Hz tone as 16-bit mono PCM (what the honeypot writes after decoding G.711)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = b"".join(
        struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / rate))) for i in range(int(seconds * rate))
    )
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(frames)


@pytest.fixture(scope="session")
def admin_password() -> str:
    return ADMIN_PASSWORD


@pytest.fixture(scope="session")
def admin_hash() -> str:
    return hash_password(ADMIN_PASSWORD)


@pytest.fixture
def ui_settings(tmp_path: Path, admin_hash: str) -> Settings:
    return settings_from_mapping(
        {"general": {"data_dir": str(tmp_path / "var")}, "ui": {"admin_password_hash": admin_hash}}
    )


@pytest.fixture
def seeded_store(tmp_path: Path, ui_settings: Settings) -> Iterator[Store]:
    write_wav(tmp_path / "var" / "recordings" / "call-lr-1.wav")
    store = Store.open(f"sqlite:///{tmp_path / 'var' / 'sipwarden.db'}")
    store.add_events(scenario_events(recording_path="call-lr-1.wav"))
    yield store
    store.close()


@pytest.fixture
def ui_app(seeded_store: Store, ui_settings: Settings) -> FastAPI:
    app = FastAPI()
    app.include_router(ui_router(seeded_store, ui_settings), prefix="/ui")
    return app
