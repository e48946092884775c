"""Public names of a package loaded on first use (PEP 562).

The configuration imports every package's `settings.py`, which runs the package's `__init__`; a
package whose public names pull in SQLAlchemy, an HTTP client or the detection rules would make
every command pay for them. Such a package lists its names here instead of importing them.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_names(package: str, names: Mapping[str, str]) -> Callable[[str], Any]:
    """A module `__getattr__` for `package` that imports `names[name]` (a module path) on first use."""

    def __getattr__(name: str) -> Any:
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)  # later reads skip this function
        return value

    return __getattr__
