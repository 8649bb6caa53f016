"""Composable feature visualization: recipes of small parts, filter and class patterns.

``parts`` holds the parts (parameterizations, transforms, regularizers, optimizers,
objectives), ``recipe`` the ``Recipe`` that combines them ("classic", "fourier", "object"), ``ascent``
the engine base that runs a recipe in one compiled step, ``class_patterns`` ``ClassPatterns``,
``cost`` the FLOPs and time a run will take. Names load on first use (PEP 562): the recipe
and its parts import neither TensorFlow nor Keras.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..._lazy import lazy_exports

_LAZY = {
    "CLASSIC": "recipe",
    "FOURIER": "recipe",
    "OBJECT": "recipe",
    "RECIPES": "recipe",
    "Recipe": "recipe",
    "resolve_recipe": "recipe",
    "Diverged": "ascent",
    "PatternEngine": "ascent",
    "Patterns": "ascent",
    "ClassPatterns": "class_patterns",
    "estimate_seconds": "cost",
}
_SUBMODULES = ("parts", "recipe", "ascent", "class_patterns", "cost")

__all__ = sorted([*_LAZY, "parts"])


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, _SUBMODULES)


if TYPE_CHECKING:  # for editors and type checkers: the names as they resolve at run time
    from . import parts  # noqa: F401
    from .ascent import Diverged, PatternEngine, Patterns  # noqa: F401
    from .class_patterns import ClassPatterns  # noqa: F401
    from .cost import estimate_seconds  # noqa: F401
    from .recipe import CLASSIC, FOURIER, OBJECT, RECIPES, Recipe, resolve_recipe  # noqa: F401
