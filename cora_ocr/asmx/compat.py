"""Spyne 2.14 (its last release) on Python 3.12 and 3.13. Loaded before Spyne itself.

Spyne bundles its own modified copy of `six` (`spyne.util.six`, with extras such as
`get_function_name`, so the `six` package cannot stand in for it). That copy's importer of
`six.moves` has only `find_module`/`load_module`, which Python 3.12 no longer calls:
`import spyne` fails with "No module named 'spyne.util.six.moves'". Here the bundled copy is
loaded first and its importer given the `find_spec` / `create_module` / `exec_module` that
`six` 1.16 added upstream. On 3.13, Spyne also imports the removed `cgi` module: the
`legacy-cgi` package (a dependency there, see setup.cfg) provides it.

Remove this module when Spyne ships a release with six >= 1.16 (or without six), and drop
`legacy-cgi` when Spyne stops importing `cgi`.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

SIX = "spyne.util.six"


def _find_spec(self: Any, fullname: str, path: object = None, target: object = None) -> Any:
    if fullname in self.known_modules:
        return importlib.util.spec_from_loader(fullname, self)
    return None


def load_spyne_six() -> ModuleType:
    """Spyne's own six, loaded (once) with an importer that current Pythons call."""
    loaded = sys.modules.get(SIX)
    if loaded is not None:
        return loaded
    spyne = importlib.util.find_spec("spyne")
    if spyne is None or spyne.origin is None:
        raise ImportError("spyne is not installed")
    spec = importlib.util.spec_from_file_location(SIX, Path(spyne.origin).parent / "util/six.py")
    if spec is None or spec.loader is None:
        raise ImportError("spyne.util.six is missing from the spyne package")
    module = importlib.util.module_from_spec(spec)
    sys.modules[SIX] = module
    spec.loader.exec_module(module)
    importer = type(module._importer)
    if not hasattr(importer, "find_spec"):
        importer.find_spec = _find_spec
        importer.create_module = lambda self, spec: self.load_module(spec.name)
        importer.exec_module = lambda self, module: None
    return module


load_spyne_six()
