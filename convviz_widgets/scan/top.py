"""Top-activating examples: for every channel of a layer, the k images where it fires most.

An image's score for a channel is the channel's spatial maximum in that image, at the first
cell (row-major) that reaches it. Images are compared by score, ties by image index (lower
first), so the result does not depend on the order in which batches finish, nor on where
they ran. Each task reduces a batch to (images, channels) maxima on the spot; only those small
arrays travel and are cached, and the top k are merged here as they arrive.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field

import numpy as np

from ..errors import ConvVizError
from .execution import Run, Task, execute
from .fingerprint import callable_key, model_fingerprint, settings_key
from .images import Source, load_batch

_VERSION = 1  # bump when a task's result changes meaning: old cache files are then not used
_FORWARD: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _forward(model, layer: str):
    """Compiled: preprocessed batch -> (spatial max (B, C), first flat cell reaching it (B, C))."""
    per_model = _FORWARD.setdefault(model, {})
    if layer not in per_model:
        import tensorflow as tf

        from ..engines.compiled import Compiled
        from ..engines.graph import flat_graph

        graph = flat_graph(model)
        submodel = graph.submodel((layer,))

        def reduce(x):
            a = submodel(x, training=False)
            shape = tf.shape(a)
            cells = shape[1] * shape[2]
            flat = tf.reshape(a, [shape[0], cells, shape[3]])
            top = tf.reduce_max(flat, axis=1)
            where = tf.range(cells)[None, :, None]
            first = tf.reduce_min(tf.where(flat == top[:, None, :], where, cells), axis=1)
            return top, first, shape[2]

        per_model[layer] = Compiled(reduce, [tf.TensorSpec(graph.input.shape, tf.float32)])
    return per_model[layer]


def channel_maxima(model, preprocess, settings: dict, payload: list) -> dict:
    """One task: each image's per-channel spatial max and its (y, x) cell; unreadable images listed."""
    forward = _forward(model, settings["layer"])
    batches, errors = load_batch(model, payload, preprocess)
    channels = int(settings["channels"])
    index, values, cells = [np.zeros(0, np.int64)], [np.zeros((0, channels), np.float32)], [
        np.zeros((0, channels, 2), np.int64)
    ]
    for positions, _, x in batches:
        top, first, width = forward(x)
        first = first.numpy().astype(np.int64)
        width = int(width.numpy())
        index.append(np.asarray(positions, np.int64))
        values.append(top.numpy().astype(np.float32))
        cells.append(np.stack([first // width, first % width], axis=-1))
    return {
        "index": np.concatenate(index),
        "values": np.concatenate(values),
        "cells": np.concatenate(cells),
        "error_at": np.asarray(sorted(errors), np.int64),
        "error": np.asarray([errors[p] for p in sorted(errors)], dtype=str),
    }


class _TopK:
    """The k best (value, image index, cell) per channel, merged batch by batch."""

    def __init__(self, channels: int, k: int):
        self.k = k
        self.values = np.zeros((channels, 0), np.float32)
        self.indices = np.zeros((channels, 0), np.int64)
        self.cells = np.zeros((channels, 0, 2), np.int64)

    def add(self, indices: np.ndarray, values: np.ndarray, cells: np.ndarray) -> None:
        channels = self.values.shape[0]
        v = np.concatenate([self.values, values.T], axis=1)
        i = np.concatenate([self.indices, np.broadcast_to(indices, (channels, len(indices)))], axis=1)
        c = np.concatenate([self.cells, cells.transpose(1, 0, 2)], axis=1)
        order = np.lexsort((i, -v), axis=1)[:, : self.k]  # by value, highest first; ties: index
        self.values = np.take_along_axis(v, order, axis=1)
        self.indices = np.take_along_axis(i, order, axis=1)
        self.cells = np.take_along_axis(c, order[..., None], axis=1)


@dataclass
class TopActivations:
    """For each channel of ``layer``, its k top images, best first.

    ``indices`` / ``values`` (channels, k): image index (into ``names``) and the channel's
    spatial max in it; ``positions`` (channels, k, 2): the (y, x) cell of the layer's map where
    it is reached. Fewer than k columns when fewer images could be read. ``errors``: {image
    name: reason} for the images left out; ``run``: tasks done, cached, whether it completed.
    """

    layer: str
    indices: np.ndarray
    values: np.ndarray
    positions: np.ndarray
    names: list
    errors: dict
    run: Run
    _model: object = field(repr=False, default=None)
    _source: object = field(repr=False, default=None)

    @property
    def complete(self) -> bool:
        return self.run.complete

    @property
    def channels(self) -> int:
        return self.values.shape[0]

    def _channel(self, channel) -> int:
        if isinstance(channel, bool) or not isinstance(channel, int | np.integer) or not (
            0 <= channel < self.channels
        ):
            raise ConvVizError(
                f"channel: expected an integer 0..{self.channels - 1} (layer {self.layer!r} has "
                f"{self.channels} channels), got {channel!r}."
            )
        return int(channel)

    def crops(self, channel) -> np.ndarray:
        """uint8 (k, s, s, 3): the receptive field of each hit, cut from the image the model saw.

        s is the field's side in pixels (black where it reaches past the image); when the
        layer's geometry is unknown (see ``engines.geometry``) each crop is the whole image.
        """
        from ..engines.batch import model_image
        from ..engines.geometry import receptive_field
        from ..engines.images import resize

        c = self._channel(channel)
        out = []
        for index, (y, x) in zip(self.indices[c], self.positions[c], strict=True):
            image = model_image(self._model, self._source.image(int(index)))
            h, w = image.shape[:2]
            field_ = receptive_field(self._model, self.layer, (h, w))
            if field_ is None:
                out.append(resize(image, (min(h, w), min(h, w))))
                continue
            centres, extent = field_
            side = max(1, int(round(max(extent))))
            cy = (centres.y0 + y * centres.dy) * h - 0.5  # pixel index of the field's centre
            cx = (centres.x0 + x * centres.dx) * w - 0.5
            out.append(_cut(image, int(round(cy - (side - 1) / 2)), int(round(cx - (side - 1) / 2)), side))
        if not out:
            return np.zeros((0, 1, 1, 3), np.uint8)
        side = max(o.shape[0] for o in out)
        return np.stack([o if o.shape[0] == side else resize(o, (side, side)) for o in out]).astype(np.uint8)


def _cut(image: np.ndarray, top: int, left: int, side: int) -> np.ndarray:
    """image[top:top+side, left:left+side], black where that window leaves the image."""
    h, w = image.shape[:2]
    out = np.zeros((side, side, 3), np.float32)
    y0, x0 = max(top, 0), max(left, 0)
    y1, x1 = min(top + side, h), min(left + side, w)
    if y0 < y1 and x0 < x1:
        out[y0 - top : y1 - top, x0 - left : x1 - left] = image[y0:y1, x0:x1]
    return np.clip(np.round(out), 0, 255)


def check_count(value, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ConvVizError(f"{what}: expected a positive integer, got {value!r}.")
    return int(value)


def batches(n: int, batch_size: int):
    return [list(range(i, min(i + batch_size, n))) for i in range(0, n, batch_size)]


def top_activations(
    model,
    images,
    layer,
    k: int = 9,
    client=None,
    cache_dir=None,
    *,
    batch_size: int = 32,
    preprocess=None,
    progress: bool = True,
    callback=None,
) -> TopActivations:
    """For every channel of ``layer``, the ``k`` images where it fires most (spatial max), and where.

    ``images``: a folder path, ``cvw.image_folder(...)``, an array (n, H, W, 3), the output of
    ``cvw.datasets.shapes(n)`` or a list of images. ``client``: None (this process), "local"
    (a LocalCluster for this call) or a ``dask.distributed.Client``. ``cache_dir``: keep each
    batch's result on disk; a rerun reads it instead of computing (``k`` is not part of the
    key: changing it recomputes nothing). ``callback(done, total)`` after each batch; False
    stops (so does Ctrl-C): the result then holds what finished, ``.complete`` is False.
    """
    from ..engines.models import default_preprocess, layer_output_shape, load_model, resolve_layer

    model = load_model(model)
    layer = resolve_layer(model, layer)
    k = check_count(k, "k")
    batch_size = check_count(batch_size, "batch_size")
    preprocess = default_preprocess(model, preprocess)
    source = Source(images)
    channels = int(layer_output_shape(model, layer)[-1])
    fingerprint = model_fingerprint(model)
    settings = {"layer": layer, "channels": channels}
    key_settings = {**settings, "preprocess": callable_key(preprocess), "version": _VERSION}
    tasks = [
        Task(
            settings_key("top_activations", fingerprint, key_settings, source.keys(group)),
            source.payload(group),
            group,
        )
        for group in batches(len(source), batch_size)
    ]
    top = _TopK(channels, k)
    errors = source.errors

    def on_result(task, result):
        group = np.asarray(task.meta, np.int64)
        top.add(group[result["index"]], result["values"], result["cells"])
        for position, reason in zip(result["error_at"], result["error"], strict=True):
            name = source.names[task.meta[int(position)]]
            errors[name] = str(reason)
            if source.folder is not None:
                source.folder.errors[name] = str(reason)

    run = execute(
        model,
        fingerprint,
        preprocess,
        channel_maxima,
        settings,
        tasks,
        on_result,
        client=client,
        cache_dir=cache_dir,
        desc=f"top activations {layer}",
        progress=progress,
        callback=callback,
    )
    return TopActivations(
        layer, top.indices, top.values, top.cells, list(source.names), errors, run, model, source
    )
