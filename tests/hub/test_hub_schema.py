"""The hub's OpenAPI document, fuzzed by schemathesis with a valid admin key: no request the
schema allows may make the hub fail (5xx) or answer outside its documented shape."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings

from sipwarden.events import utcnow
from sipwarden.hub.api import create_hub_app
from sipwarden.hub.repo import HubRepo
from sipwarden.hub.settings import HubSettings
from sipwarden.store import Store

_DIR = Path(tempfile.mkdtemp(prefix="sipwarden-hub-schema-"))
_STORE = Store.open(f"sqlite:///{_DIR / 'schema.db'}")
_SETTINGS = HubSettings(rate_per_second=1e6, rate_burst=10**7)
_KEY, _ = HubRepo(_STORE, _SETTINGS).create_key("fuzzer", "admin", trusted=True, now=utcnow())
APP = create_hub_app(_STORE, _SETTINGS)
# schemathesis needs the app when the module is collected, before fixtures exist; clean up at exit.
atexit.register(shutil.rmtree, _DIR, True)
atexit.register(_STORE.close)

schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


# The dashboard under /ui/ is its own part with its own tests.
@schema.exclude(path="/v1/stream").exclude(path_regex="^/ui/").parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_schema(case: schemathesis.Case) -> None:
    # No 5xx, and only documented status codes; the stream never ends by itself, so it is tested elsewhere.
    case.call_and_validate(
        headers={"Authorization": f"Bearer {_KEY}"},
        checks=[schemathesis.checks.not_a_server_error, schemathesis.checks.status_code_conformance],
    )
