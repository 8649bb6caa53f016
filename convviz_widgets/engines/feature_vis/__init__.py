"""Composable feature visualization: recipes of small parts, filter and class patterns.

``parts`` holds the parts (parameterizations, transforms, regularizers, optimizers,
objectives), ``recipe`` the ``Recipe`` that combines them ("classic", "fourier"), ``ascent``
the engine base that runs a recipe in one compiled step, ``class_patterns`` ``ClassPatterns``.
"""

from . import parts
from .ascent import Diverged, PatternEngine, Patterns
from .class_patterns import ClassPatterns
from .recipe import CLASSIC, FOURIER, RECIPES, Recipe, resolve_recipe

__all__ = [
    "CLASSIC", "FOURIER", "RECIPES", "ClassPatterns", "Diverged", "PatternEngine", "Patterns",
    "Recipe", "parts", "resolve_recipe",
]
