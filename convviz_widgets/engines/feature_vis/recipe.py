"""A recipe: one choice of each part (see ``parts``); "classic", "fourier" and "object" are
three of them."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ...errors import ConvVizError
from .parts import (
    Adam,
    CenterNeuron,
    Fourier,
    Jitter,
    NormalizedStep,
    Objective,
    Optimizer,
    Parameterization,
    Pixels,
    Regularizer,
    Rotate,
    Scale,
    Transform,
    Window,
)

__all__ = ["CLASSIC", "FOURIER", "OBJECT", "RECIPES", "Recipe", "resolve_recipe"]


@dataclass(frozen=True)
class Recipe:
    """How to optimize a pattern: parameterization, transforms, regularizers, optimizer, objective.

    ``objective=None``: the engine's own (a channel's mean for filters, the class score for
    classes). ``learning_rate`` is multiplied by ``generate``'s ``step_size``. A Recipe is
    immutable and compares by value, so it is a cache key as it stands.
    """

    parameterization: Parameterization = Pixels()
    transforms: tuple = ()
    regularizers: tuple = ()
    optimizer: Optimizer = NormalizedStep()
    objective: Objective | None = None
    learning_rate: float = 1.0

    def __post_init__(self):
        object.__setattr__(self, "transforms", tuple(self.transforms))
        object.__setattr__(self, "regularizers", tuple(self.regularizers))
        _check("parameterization", self.parameterization, Parameterization, "Pixels, Fourier, Window")
        for i, part in enumerate(self.transforms):
            _check(f"transforms[{i}]", part, Transform, "Jitter, Scale, Rotate")
        for i, part in enumerate(self.regularizers):
            _check(f"regularizers[{i}]", part, Regularizer, "L2, TotalVariation, Blur")
        _check("optimizer", self.optimizer, Optimizer, "NormalizedStep, Adam")
        if self.objective is not None:
            _check("objective", self.objective, Objective, "ChannelMean, CenterNeuron, ClassScore")
        lr = self.learning_rate
        if isinstance(lr, bool) or not isinstance(lr, int | float) or not math.isfinite(lr) or (
            lr <= 0
        ):
            raise ConvVizError(f"recipe.learning_rate: expected a positive number, got {lr!r}.")


def _check(name, part, base, examples):
    if not isinstance(part, base):
        raise ConvVizError(
            f"recipe.{name}: expected a {base.__name__} ({examples} or a subclass), got "
            f"{type(part).__name__} {part!r}."
        )


CLASSIC = Recipe()  # the book: pixels, no transforms, the RMS-normalized step
FOURIER = Recipe(  # Olah et al. 2017: Fourier basis, jitter/scale/rotate every step, Adam
    parameterization=Fourier(),
    transforms=(Jitter(8), Scale(0.9, 1.1), Rotate(10.0)),
    optimizer=Adam(),
    learning_rate=0.05,
)
# One object per pattern, not a tiling: the unit at the centre of the map (for classes: the
# class evidence of the centre cell), the image a Fourier one seen through a centred soft disc
# over flat grey (everything the centre unit does not see stays grey). Against FOURIER:
# sd 0.1 (from flat grey, sd 0.01, the centre unit of a ReLU net can have no gradient at
# all), a steeper spectrum (decay 1.5: larger flat regions, as filled shapes are) and a
# zoom-out of 0.7-0.8 every step, so the object the centre unit sees is drawn 1 / 0.75 larger.
OBJECT = Recipe(
    parameterization=Window(Fourier(decay=1.5, sd=0.1), radius=0.3, edge=0.08),
    transforms=(Jitter(8), Scale(0.7, 0.8), Rotate(10.0)),
    optimizer=Adam(),
    objective=CenterNeuron(),
    learning_rate=0.05,
)
RECIPES = {"classic": CLASSIC, "fourier": FOURIER, "object": OBJECT}


def resolve_recipe(recipe) -> Recipe:
    """A Recipe, or the name of one in ``RECIPES``."""
    if isinstance(recipe, Recipe):
        return recipe
    if isinstance(recipe, str) and recipe in RECIPES:
        return RECIPES[recipe]
    raise ConvVizError(
        f"recipe: expected one of {sorted(RECIPES)} or a Recipe, got {recipe!r}."
    )
