"""Grad-CAM, kept here for the code that imports it from this module: see ``engines/cam/``."""

from __future__ import annotations

from .cam.base import SCORES  # noqa: F401
from .cam.executors import _DenseFold  # noqa: F401
from .cam.gradcam import GradCAM

__all__ = ["GradCAM"]
