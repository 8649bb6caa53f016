"""Small helpers shared by the explorers: model/image arguments, layer choices, trait checks."""

from __future__ import annotations

import difflib
import os

from ..errors import ConvVizError


def as_model(model):
    """A model object as given; a name or a path goes through ``load_model``."""
    from ..engines import load_model

    if model is None or isinstance(model, (str, os.PathLike)):
        return load_model() if model is None else load_model(model)
    return model


def input_size(model) -> tuple[int, int] | None:
    """(H, W) of the model's image input when fixed, else None."""
    from ..engines.models import input_size as engine_input_size

    h, w = engine_input_size(model)
    return (int(h), int(w)) if h is not None and w is not None else None


def as_image(img, model):
    """``load_image`` at the model's input size: the engines and the display see the same pixels.

    The result is a read-only ``CheckedImage``: the engines it is given to do not decode or
    validate it again.
    """
    from ..engines.images import checked_image

    return checked_image(img, target_size=input_size(model))


def check_choice(name: str, value, choices) -> None:
    """ConvVizError naming the argument, the choices and what came in, with a close match."""
    if value in choices:
        return
    shown = ", ".join(repr(c) for c in list(choices)[:12])
    more = f", ... ({len(choices)} in all)" if len(choices) > 12 else ""
    close = difflib.get_close_matches(str(value), [str(c) for c in choices], n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ConvVizError(f"{name}: expected one of {shown}{more}; got {value!r}.{hint}")


def clamp(value, low, high):
    return max(low, min(high, value))
