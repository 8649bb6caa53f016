"""Gradient ascent in input space with a recipe's parts, in one compiled step per recipe.

``PatternEngine`` is the base of ``FilterPatterns`` and ``ClassPatterns``: a subclass gives
``_target(x, indices, needs)`` (each image's own channel map, or its own class score, or
its own class's evidence map) and what the indices are; the base validates the arguments,
composes the recipe's parts into one step (traced once: indices, their number, sizes,
learning rate and seeds are tensors) and runs it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ...errors import ConvVizError
from ...pixels import deprocess
from ..compiled import Compiled
from .parts import ChannelMean, ClassScore, Pixels, warp
from .recipe import CLASSIC, Recipe, resolve_recipe


@dataclass
class Patterns:
    """The float result of an optimization: what render turns into pixels (``pixels.deprocess``)."""

    images: np.ndarray  # float32 (N, s, s, 3), the parameterization's images
    alive: np.ndarray | None  # (N,) bool: the objective had a gradient at some step
    display: str  # how to show them: "standardize" | "pixels"
    losses: np.ndarray | None  # each image's objective at the last step
    steps: int  # steps done

    def to_uint8(self) -> np.ndarray:
        return deprocess(self.images, self.alive, self.display)


class Diverged(ConvVizError):
    """The optimization produced non-finite values; ``patterns`` holds the last finite ones."""

    def __init__(self, message: str, patterns: Patterns):
        super().__init__(message)
        self.patterns = patterns

    @property
    def images(self) -> np.ndarray:
        return self.patterns.to_uint8()


class PatternEngine:
    """Shared by the pattern engines: argument checks, the compiled step per recipe, the loop."""

    what = "filters"  # the indices' argument name
    noun = "filter"  # what one index is
    default_recipe = "classic"
    needs = "map"  # the default objective's target: "map" (a layer's channels) or "score"
    offers = ("map",)  # every target ``_target`` can give (see ``parts.Objective.needs``)
    fixed_size: int | None = None
    preprocess: Callable | None = None  # applied to pixel-space images (e.g. x / 255)
    resize_to: tuple | None = None  # the model's fixed input size, when images are resized to it
    num_targets: int

    def __init__(self):
        self._steps = {}
        self._images = {}  # recipe -> compiled parameterization (params -> images)
        self._step = self._build(CLASSIC)
        self.losses = None  # each image's objective at the last step

    # -- subclasses --------------------------------------------------------------------------

    def _target(self, x, indices, needs=None):
        """Each image's own target: ``needs`` is one of ``offers`` (None: ``self.needs``)."""
        raise NotImplementedError

    def _describe_index_range(self) -> str:
        raise NotImplementedError

    def _target_shape(self) -> tuple:
        raise NotImplementedError

    # -- the step ----------------------------------------------------------------------------

    def _default_objective(self, recipe: Recipe):
        return recipe.objective or (ClassScore() if self.needs == "score" else ChannelMean())

    def _objective(self, recipe: Recipe):
        """The recipe's objective, checked against what this engine's target gives."""
        objective = self._default_objective(recipe)
        if objective.needs not in self.offers:
            have = (self._describe_scores() if self.needs == "score"
                    else f"channel maps {self._target_shape()}")
            want = ("a layer with channels (h, w, C), or a class evidence map" if
                    objective.needs == "map" else "class scores (use ClassPatterns)")
            raise ConvVizError(
                f"recipe.objective: {type(objective).__name__} needs {want}; this engine's "
                f"target gives {have}."
            )
        return objective

    def _compiled(self, recipe: Recipe) -> Compiled:
        if recipe == CLASSIC:
            return self._step
        if recipe not in self._steps:
            self._steps[recipe] = self._build(recipe)
        return self._steps[recipe]

    def _build(self, recipe: Recipe) -> Compiled:
        import tensorflow as tf

        param, optimizer = recipe.parameterization, recipe.optimizer
        objective = self._default_objective(recipe)
        shape = param.spec_shape()
        state_shapes = optimizer.state_shapes(shape)
        pixel_space = param.pixel_space
        preprocess, resize_to = self.preprocess, self.resize_to

        def step(params, *rest):
            *state, indices, lr, size, seed = rest
            with tf.GradientTape() as tape:
                tape.watch(params)
                images = param(params, size)
                x = images
                if recipe.transforms:
                    n = tf.shape(x)[0]
                    matrix = None
                    for i, transform in enumerate(recipe.transforms):
                        m = transform(n, size, tf.random.experimental.stateless_fold_in(seed, i))
                        matrix = m if matrix is None else tf.matmul(matrix, m)
                    x = warp(x, matrix)
                if pixel_space and preprocess is not None:
                    x = preprocess(x)
                if resize_to is not None:
                    x = tf.image.resize(x, resize_to)
                losses = objective(self._target(x, indices, objective.needs))
                total = tf.reduce_sum(losses)  # image i's gradient is its own loss's
                for regularizer in recipe.regularizers:
                    total = total - tf.reduce_sum(regularizer(images))
            grads = tape.gradient(total, params)
            new, state = optimizer(params, grads, tuple(state), lr)
            moved = tf.reduce_max(tf.abs(grads), axis=list(range(1, len(shape)))) > 0
            finite = tf.reduce_all(tf.math.is_finite(new))
            return (new, *state, losses, moved, finite)

        self._images[recipe] = Compiled(  # params -> images, run only when they are looked at
            param, [tf.TensorSpec(shape, tf.float32), tf.TensorSpec((), tf.int32)]
        )
        signature = [tf.TensorSpec(shape, tf.float32)]
        signature += [tf.TensorSpec(s, tf.float32) for s in state_shapes]
        signature += [
            tf.TensorSpec((None,), tf.int32),  # indices
            tf.TensorSpec((), tf.float32),  # learning rate
            tf.TensorSpec((), tf.int32),  # size
            tf.TensorSpec((2,), tf.int32),  # this step's random seed
        ]
        return Compiled(step, signature)

    # -- arguments ---------------------------------------------------------------------------

    def _indices(self, indices) -> list[int]:
        what = self.what
        items = [indices] if isinstance(indices, int | np.integer) else list(indices)
        if not items:
            raise ConvVizError(f"{what}: expected at least one {self.noun} index, got none.")
        out = []
        for f in items:
            if isinstance(f, bool) or not isinstance(f, int | np.integer):
                raise ConvVizError(f"{what}: expected integer {self.noun} indices, got {f!r}.")
            if not 0 <= int(f) < self.num_targets:
                raise ConvVizError(
                    f"{what}: {self._describe_index_range()}, expected indices "
                    f"0..{self.num_targets - 1}, got {int(f)}."
                )
            out.append(int(f))
        return out

    def _check(self, size, steps, step_size):
        if isinstance(size, bool) or not isinstance(size, int | np.integer) or size < 8 or (
            self.fixed_size is not None and size != self.fixed_size
        ):
            expected = self.fixed_size or "an integer >= 8 (pixels per side)"
            raise ConvVizError(f"size: expected {expected}, got {size!r}.")
        if isinstance(steps, bool) or not isinstance(steps, int | np.integer) or steps < 0:
            raise ConvVizError(f"steps: expected a non-negative integer, got {steps!r}.")
        if isinstance(step_size, bool) or not isinstance(step_size, int | float | np.number) or (
            not np.isfinite(step_size) or step_size <= 0
        ):
            raise ConvVizError(
                f"step_size: expected a positive finite number (it scales the recipe's "
                f"learning rate), got {step_size!r}."
            )

    # -- running -----------------------------------------------------------------------------

    def optimize(self, indices, size: int, steps: int = 40, step_size: float = 1.0,
                 seed: int = 0, callback: Callable | None = None, recipe=None) -> Patterns:
        """Float patterns (``Patterns``), one per index, all optimized as one batch.

        ``callback(step, patterns)`` runs after each step (1-based) with the ``Patterns`` so
        far; returning False stops at once. ``recipe=None``: the engine's ``default_recipe``.
        A step that produces non-finite values stops the
        run with ``Diverged``, which keeps the last finite patterns.
        """
        import tensorflow as tf

        recipe = resolve_recipe(self.default_recipe if recipe is None else recipe)
        indices = self._indices(indices)
        self._check(size, steps, step_size)
        self._objective(recipe)
        step = self._compiled(recipe)
        param = recipe.parameterization
        images_of = param if isinstance(param, Pixels) else self._images[recipe]
        size = int(size)
        params = param.init(indices, size, seed)
        state = [tf.constant(s) for s in recipe.optimizer.init(params)]
        params = tf.constant(params)
        index_tensor = tf.constant(indices, tf.int32)
        lr = tf.constant(float(step_size) * recipe.learning_rate, tf.float32)
        size_tensor = tf.constant(size, tf.int32)
        alive = np.zeros(len(indices), dtype=bool)
        base_seed = int(seed) % 2**31
        done = 0
        for i in range(1, int(steps) + 1):
            seed_tensor = tf.constant([base_seed, i], tf.int32)
            new, *state_new, losses, moved, finite = step(
                params, *state, index_tensor, lr, size_tensor, seed_tensor
            )
            if not bool(finite):
                shown = images_of(params, size_tensor).numpy()
                last = Patterns(shown, alive.copy(), param.display, self.losses, done)
                raise Diverged(
                    f"step_size: the optimization diverged at step {i} (non-finite values); "
                    f"expected a smaller step_size or learning rate, got {step_size!r} x "
                    f"{recipe.learning_rate!r}. The patterns of step {done} are kept.", last
                )
            params, state, done = new, state_new, i
            self.losses = losses.numpy()
            alive |= moved.numpy()
            if callback is not None and callback(
                i, Patterns(images_of(params, size_tensor).numpy(), alive, param.display,
                            self.losses, i)
            ) is False:
                break
        shown = images_of(params, size_tensor).numpy()
        return Patterns(shown, alive if steps else None, param.display, self.losses, done)

    def generate(self, indices, size: int = 150, steps: int = 40, step_size: float = 1.0,
                 seed: int = 0, callback: Callable | None = None, recipe=None) -> np.ndarray:
        """uint8 (N, size, size, 3): ``optimize``, shown with ``pixels.deprocess``.

        ``callback(step, images_uint8)`` runs after each step (1-based); returning False
        stops at once and the patterns reached so far are returned.
        """
        wrapped = None
        if callback is not None:
            def wrapped(step, patterns):
                return callback(step, patterns.to_uint8())

        return self.optimize(indices, size, steps, step_size, seed, wrapped, recipe).to_uint8()
