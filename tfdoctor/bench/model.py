"""The benchmarked model as a table of layers (output shape, parameters, FLOPs per training step).

The child reports each Keras layer it built (kind, per-image input and output shapes, parameter count and the few
config fields the formulas need); `layer_table` turns that into `Layer` rows with FLOPs from `flops.py`. The default
conv-net is also written out here by hand (`convnet_records`), so its FLOP count is checked without TensorFlow and
against the child's real model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tfdoctor.bench import flops

CONVNET_INPUT = (32, 32, 3)
CONVNET_CLASSES = 10
DEFAULT_BATCH = {"convnet": 128, "resnet50": 64}

# kinds that only move data: no arithmetic to count
_NO_ARITHMETIC = {"InputLayer", "Flatten", "Reshape", "ZeroPadding2D", "Cropping2D"}


@dataclass(frozen=True)
class Layer:
    """One row of the model table. FLOPs are per image; `train_flops` = forward + backward of this layer."""

    name: str
    kind: str
    output_shape: tuple[int, ...]
    params: int
    trainable_params: int
    forward_flops: int
    train_flops: int
    counted: bool = True  # False: a kind with no formula (its FLOPs are counted as 0)


@dataclass(frozen=True)
class ModelCount:
    """The whole model: layer rows, the loss, and the FLOPs of one training step for a batch."""

    layers: tuple[Layer, ...]
    params: int
    trainable_params: int
    forward_flops_per_image: int
    train_flops_per_image: int
    optimizer_flops: int
    batch_size: int

    @property
    def flops_per_step(self) -> int:
        """FLOPs of one training step: batch * per-image training FLOPs + one optimiser update."""
        return self.batch_size * self.train_flops_per_image + self.optimizer_flops

    @property
    def uncounted(self) -> tuple[str, ...]:
        """Kinds of layer that have no formula (so the count is a lower bound)."""
        return tuple(sorted({layer.kind for layer in self.layers if not layer.counted}))


def convnet_records(input_shape=CONVNET_INPUT, classes=CONVNET_CLASSES) -> list[dict]:
    """The default model written out by hand, in the child's record format:
    Conv2D(32, 3, relu) -> MaxPool(2) -> Conv2D(64, 3, relu) -> MaxPool(2) -> Flatten -> Dense(classes)."""
    h, w, c = input_shape
    rows = []

    def add(name, kind, out, params, config, inp):
        rows.append({"name": name, "kind": kind, "input_shapes": [list(inp)], "output_shape": list(out),
                     "params": params, "trainable_params": params, "config": config})
        return out

    conv = {"kernel_size": [3, 3], "strides": [1, 1], "padding": "valid", "activation": "relu", "use_bias": True}
    pool = {"pool_size": [2, 2], "strides": [2, 2], "padding": "valid"}
    shape = (h, w, c)
    shape = add("conv2d", "Conv2D", (h - 2, w - 2, 32), 3 * 3 * c * 32 + 32, {**conv, "filters": 32}, shape)
    shape = add("max_pooling2d", "MaxPooling2D", (shape[0] // 2, shape[1] // 2, 32), 0, pool, shape)
    shape = add("conv2d_1", "Conv2D", (shape[0] - 2, shape[1] - 2, 64), 3 * 3 * 32 * 64 + 64,
                {**conv, "filters": 64}, shape)
    shape = add("max_pooling2d_1", "MaxPooling2D", (shape[0] // 2, shape[1] // 2, 64), 0, pool, shape)
    flat = math.prod(shape)
    shape = add("flatten", "Flatten", (flat,), 0, {}, shape)
    add("dense", "Dense", (classes,), flat * classes + classes,
        {"units": classes, "activation": "linear", "use_bias": True}, shape)
    return rows


def _pair(value, default=(1, 1)) -> tuple[int, int]:
    if isinstance(value, int) and value > 0:
        return value, value
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(isinstance(v, int) and v > 0 for v in value):
        return int(value[0]), int(value[1])
    return default


def _count(value) -> int:
    return int(value) if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _ints(shape) -> tuple[int, ...]:
    if not isinstance(shape, (list, tuple)) or not all(isinstance(d, int) and d >= 0 for d in shape):
        return ()
    return tuple(int(d) for d in shape)


def forward_flops(record: dict) -> tuple[int, bool]:
    """FLOPs of one image through this layer, forward only, and whether its kind has a formula."""
    kind = str(record.get("kind", ""))
    cfg = record.get("config") if isinstance(record.get("config"), dict) else {}
    out = _ints(record.get("output_shape") or ())
    raw_inputs = record.get("input_shapes")
    inputs = [_ints(s) for s in raw_inputs] if isinstance(raw_inputs, list) else []
    out_elems = math.prod(out) if out else 0
    act = cfg.get("activation") if isinstance(cfg.get("activation"), str) else "linear"
    if kind in _NO_ARITHMETIC:
        return 0, True
    if kind == "Conv2D" and len(out) == 3 and inputs and len(inputs[0]) == 3:
        k_h, k_w = _pair(cfg.get("kernel_size"), (1, 1))
        groups = cfg.get("groups") if isinstance(cfg.get("groups"), int) and cfg.get("groups") > 0 else 1
        total = flops.conv2d(out[0], out[1], k_h, k_w, inputs[0][2] // max(groups, 1), out[2])
        total += out_elems if cfg.get("use_bias", True) else 0
        return total + flops.activation(out_elems, act), True
    if kind == "Dense" and out and inputs and inputs[0]:
        n_in = inputs[0][-1]
        rows = math.prod(out[:-1]) if len(out) > 1 else 1  # Dense on a rank>1 input applies per position
        total = rows * flops.dense(n_in, out[-1]) + (out_elems if cfg.get("use_bias", True) else 0)
        return total + flops.activation(out_elems, act), True
    if kind == "MaxPooling2D":
        k_h, k_w = _pair(cfg.get("pool_size"), (2, 2))
        return flops.max_pool(out_elems, k_h, k_w), True
    if kind == "AveragePooling2D":
        k_h, k_w = _pair(cfg.get("pool_size"), (2, 2))
        return flops.avg_pool(out_elems, k_h, k_w), True
    if kind in ("GlobalAveragePooling2D", "GlobalMaxPooling2D") and inputs:
        return math.prod(inputs[0]), True
    if kind == "Activation":
        return flops.activation(out_elems, act), True
    if kind == "ReLU":
        return out_elems, True
    if kind == "Softmax":
        return flops.activation(out_elems, "softmax"), True
    if kind == "BatchNormalization":
        return flops.BATCHNORM_PER_ELEMENT * out_elems, True
    if kind in ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum"):
        return max(len(inputs) - 1, 1) * out_elems, True
    return 0, False


def layer_table(records: list[dict], batch_size: int, classes: int | None = None) -> ModelCount:
    """Rows with FLOPs for the child's layer records (in topological order), the loss, and the optimiser update.

    `classes`: width of the logits for the softmax cross-entropy row (default: the last layer's output width).
    """
    layers: list[Layer] = []
    upstream_learns = False  # does anything before this layer have weights? then its input needs a gradient
    for rec in records:
        if not isinstance(rec, dict):
            continue
        fwd, counted = forward_flops(rec)
        params = _count(rec.get("params"))
        trainable = _count(rec.get("trainable_params", params))
        mult = flops.training_multiplier(trainable > 0, upstream_learns)
        layers.append(Layer(str(rec.get("name", "?")), str(rec.get("kind", "?")), _ints(rec.get("output_shape") or ()),
                            params, trainable, fwd, fwd * mult, counted))
        upstream_learns = upstream_learns or trainable > 0
    if classes is None:
        last = layers[-1].output_shape if layers else ()
        classes = last[-1] if last else 0
    loss_fwd = flops.softmax_cross_entropy(classes)
    layers.append(Layer("loss", "SoftmaxCrossEntropy", (1,), 0, 0, loss_fwd,
                        loss_fwd * flops.training_multiplier(False, upstream_learns)))
    params = sum(layer.params for layer in layers)
    trainable = sum(layer.trainable_params for layer in layers)
    return ModelCount(
        layers=tuple(layers),
        params=params,
        trainable_params=trainable,
        forward_flops_per_image=sum(layer.forward_flops for layer in layers),
        train_flops_per_image=sum(layer.train_flops for layer in layers),
        optimizer_flops=flops.optimizer_update(trainable),
        batch_size=batch_size,
    )
