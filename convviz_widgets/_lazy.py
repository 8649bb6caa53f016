"""Names that load on first use (PEP 562), for every package of convviz_widgets.

One hook instead of one per package: ``import convviz_widgets`` loads neither TensorFlow nor
OpenCV, and a package's names import their module only when first used.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterable, Mapping


def lazy_exports(
    package: str,
    names: Mapping[str, str],
    submodules: Iterable[str] | Mapping[str, str] = (),
    before: Callable[[str], None] | None = None,
):
    """``(__getattr__, __dir__)`` for ``package`` (its ``__name__``).

    ``names`` maps a public name to the relative module that defines it (``"engines.cam"``);
    ``submodules`` are loaded as attributes of their own name (a mapping gives the attribute
    its module's relative path). ``before(module)`` runs before a name's module is imported.
    The value is then set on the package, so the hook runs once per name. Module paths come
    from these tables only, never from a caller.
    """
    paths = dict(submodules) if isinstance(submodules, Mapping) else {s: s for s in submodules}

    def __getattr__(name: str):
        if name in names:
            if before is not None:
                before(names[name])
            value = getattr(importlib.import_module(f".{names[name]}", package), name)
        elif name in paths:
            value = importlib.import_module(f".{paths[name]}", package)
        else:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        setattr(sys.modules[package], name, value)
        return value

    def __dir__():
        module = sys.modules[package]
        return sorted(set(vars(module)) | set(getattr(module, "__all__", ())) | set(names) | set(paths))

    return __getattr__, __dir__
