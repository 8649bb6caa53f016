"""A flat view of any Keras model: every layer's output reachable from one input.

Nested models (``Sequential([VGG16(include_top=False), GlobalAveragePooling2D(), Dense(2)])``)
are the classic "Graph disconnected" trap: an inner layer's ``.output`` belongs to the inner
model's own graph. We avoid it by *replaying* the whole model on a fresh ``keras.Input``,
layer by layer and recursively through nested models; the replay creates one flat graph in
which every layer output (named ``"outer/inner"`` for nested layers) is a tensor we can use
as an output of a sub-model. Weights are shared with the user's model, nothing is copied.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field

from ..errors import ConvVizError
from .backend import import_tensorflow

import_tensorflow()  # before Keras: TensorFlow's native startup log filtered (backend.py)
import keras  # noqa: E402

_CONV_TYPES = (
    keras.layers.Conv2D,
    keras.layers.SeparableConv2D,
    keras.layers.DepthwiseConv2D,
    keras.layers.Conv2DTranspose,
)
_POOL_TYPES = (keras.layers.MaxPooling2D, keras.layers.AveragePooling2D)
_FINAL_ACTIVATIONS = ("softmax", "sigmoid")


def iter_layers(model: keras.Model, prefix: str = ""):
    """Yield ``(qualified_name, layer)`` for every layer, depth first, in model order."""
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        if isinstance(layer, keras.Model):
            yield from iter_layers(layer, f"{prefix}{layer.name}/")
        else:
            yield f"{prefix}{layer.name}", layer


def is_conv(layer) -> bool:
    return isinstance(layer, _CONV_TYPES)


def is_spatial(layer) -> bool:
    return isinstance(layer, _CONV_TYPES + _POOL_TYPES)


def _activation_name(layer) -> str | None:
    """The name of a layer's built-in activation ("softmax", "relu", "linear", ...), or None."""
    return getattr(getattr(layer, "activation", None), "__name__", None)


def _final_layer(model: keras.Model):
    """The layer that produces the model's (single) output, descending into nested models."""
    if isinstance(model, keras.Sequential):
        last = model.layers[-1]
    else:
        last = model.outputs[0]._keras_history.operation
    return _final_layer(last) if isinstance(last, keras.Model) else last


def _logits_of(layer, inputs, output):
    """(logits, activation name) for the classifier's final layer, given its symbolic input.

    For a final softmax/sigmoid the logits are its input (a Dense layer's pre-activation);
    otherwise the output itself is taken as the scores, and the name says what it was.
    """
    if isinstance(layer, keras.layers.Softmax):
        return inputs, "softmax"
    activation = _activation_name(layer)
    if activation not in _FINAL_ACTIVATIONS:
        return output, activation
    if isinstance(layer, keras.layers.Activation):
        return inputs, activation
    if isinstance(layer, keras.layers.Dense):
        logits = keras.ops.matmul(inputs, layer.kernel)
        if layer.use_bias:
            logits = logits + layer.bias
        return logits, activation
    return output, None  # another layer with a built-in softmax/sigmoid: score its output


@dataclass
class FlatGraph:
    """The replayed model: one input, every layer's output by qualified name, the class scores."""

    input: object
    output: object
    taps: dict
    logits: object
    final_activation: str | None
    _submodels: dict = field(default_factory=dict, repr=False)
    _scores: dict = field(default_factory=dict, repr=False)

    def tap(self, name: str):
        return self.taps[name]

    def submodel(self, outputs: tuple, inputs=None) -> keras.Model:
        """A (cached) keras.Model from ``inputs`` (default: the input) to named outputs.

        Output names are layer names or the special names ``"@output"``, ``"@logit"`` and
        ``"@probability"`` (class scores, see :meth:`scores`).
        """
        key = (inputs, outputs)
        if key not in self._submodels:
            tensors = [self._tensor(n) for n in outputs]
            source = self.input if inputs is None else self._tensor(inputs)
            self._submodels[key] = keras.Model(source, tensors)
        return self._submodels[key]

    def _tensor(self, name: str):
        if name == "@output":
            return self.output
        if name in ("@logit", "@probability"):
            return self.scores(name[1:])
        return self.taps[name]

    def scores(self, kind: str):
        """Class scores (batch, classes): ``"logit"`` (pre-softmax/sigmoid) or ``"probability"``.

        A single sigmoid unit z is expanded to two classes: class 0 is the complement
        (logit -z, probability 1 - p) and class 1 the unit itself.
        """
        if kind not in self._scores:
            ops = keras.ops
            binary = self.output.shape[-1] == 1
            if kind == "logit":
                z = self.logits
                value = ops.concatenate([-z, z], axis=-1) if binary else z
            else:
                p = self.output
                if self.final_activation not in _FINAL_ACTIVATIONS:  # the model outputs logits
                    p = ops.sigmoid(p) if binary else ops.softmax(p, axis=-1)
                value = ops.concatenate([1.0 - p, p], axis=-1) if binary else p
            self._scores[kind] = value
        return self._scores[kind]


class _Alias(keras.layers.Layer):
    """Calls ``layer`` under another name: Keras needs unique names in one graph, and two nested
    models may each hold a layer called "conv". Weights stay the wrapped layer's own."""

    def __init__(self, layer, name):
        super().__init__(name=name, trainable=layer.trainable)
        self.wrapped = layer

    def call(self, *args, **kwargs):
        return self.wrapped(*args, **kwargs)

    def compute_output_spec(self, *args, **kwargs):
        return self.wrapped.compute_output_spec(*args, **kwargs)


def unalias(op):
    """The user's own layer behind ``op`` (an _Alias is unwrapped)."""
    return op.wrapped if isinstance(op, _Alias) else op


def producer(tensor):
    """(layer, input tensors) of the call that made ``tensor`` in a replayed graph, the layer
    unaliased; (None, []) for a tensor that no layer made."""
    history = getattr(tensor, "_keras_history", None)
    if history is None:
        return None, []
    op, node_index, _ = history
    return unalias(op), list(op._inbound_nodes[node_index].input_tensors)


def _unique(op, names: dict):
    """``op``, or an alias of it when another operation of the replay already has its name."""
    owner = names.setdefault(op.name, op)
    if owner is op:
        return op
    alias = names.get((id(op), "alias"))
    if alias is None:
        alias = _Alias(op, f"{op.name}_{len(names)}")
        names[(id(op), "alias")] = alias
    return alias


class _Reached(Exception):
    """Raised by the replay once the layer it was asked to stop at has its output."""

    def __init__(self, inputs, output):
        super().__init__()
        self.inputs = inputs
        self.output = output


def _replay(model, x, taps: dict, prefix: str, final, head: dict, stop=None, names=None):
    names = {} if names is None else names

    def wrap(op):
        if isinstance(op, keras.Model):
            return lambda *args, **kwargs: _replay(
                op, args[0], taps, f"{prefix}{op.name}/", final, head, stop, names
            )

        def call(*args, **kwargs):
            kwargs.pop("training", None)
            out = _unique(op, names)(*args, **kwargs)
            name = f"{prefix}{op.name}"
            taps[name] = out
            if name == stop:
                raise _Reached(args[0], out)
            if op is final:
                head["logits"], head["activation"] = _logits_of(op, args[0], out)
            return out

        return call

    if isinstance(model, keras.Sequential):
        for layer in model.layers:
            x = wrap(layer)(x)
        return x
    # Keras 3's own graph executor, with each operation swapped for our capturing wrapper.
    return model._run_through_graph([x], operation_fn=wrap)


_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def flat_graph(model: keras.Model) -> FlatGraph:
    """The FlatGraph of ``model`` (built once per model and cached)."""
    graph = _CACHE.get(model)
    if graph is None:
        x = keras.Input(shape=tuple(model.inputs[0].shape[1:]), name="convviz_input")
        taps: dict = {}
        head: dict = {}
        try:
            output = _replay(model, x, taps, "", _final_layer(model), head)
        except Exception as exc:  # a custom layer that cannot be called symbolically
            raise ConvVizError(
                f"model: could not trace {model.name!r} layer by layer "
                f"({type(exc).__name__}: {exc}). Expected a Functional or Sequential Keras model "
                f"built from standard or serializable layers."
            ) from exc
        if isinstance(output, list | tuple):
            output = output[0]
        graph = FlatGraph(
            input=x,
            output=output,
            taps=taps,
            logits=head.get("logits", output),
            final_activation=head.get("activation"),
        )
        _CACHE[model] = graph
    return graph


_EXTRACTORS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def free_size_extractor(model: keras.Model, layer: str, at: str = "output") -> keras.Model:
    """input of ANY height and width -> ``layer``'s output (cached per model and layer).

    Layers after ``layer`` (a Flatten + Dense top) may fix the model's input size; the replay
    stops at ``layer``, so filter patterns can be optimized at any size, as in the tutorial.
    ``at="input"`` gives the tensor that goes INTO ``layer`` instead (its first argument).
    """
    per_model = _EXTRACTORS.setdefault(model, {})
    if (layer, at) not in per_model:
        x = keras.Input(shape=(None, None, model.inputs[0].shape[-1]), name="convviz_free_input")
        try:
            _replay(model, x, {}, "", None, {}, stop=layer)
        except _Reached as reached:
            for where, tensor in (("output", reached.output), ("input", reached.inputs)):
                per_model[(layer, where)] = keras.Model(x, tensor)
        else:
            raise ConvVizError(f"layer: {layer!r} was not reached when tracing {model.name!r}.")
    return per_model[(layer, at)]
