"""The analytic FLOP count of a training step: one formula per kind of layer, per image.

Convention (docs/bench.md walks through it by hand for the default model):
- A multiply-add is 2 FLOPs. Every other elementary operation (add, compare, exp, divide) is 1 FLOP.
- Conv2D forward: 2 * H_out * W_out * K_h * K_w * C_in * C_out, plus 1 per output element for the bias, plus 1 per
  output element for a fused ReLU (a comparison).
- Dense forward: 2 * N_in * N_out, plus N_out for the bias.
- MaxPooling: K_h * K_w - 1 comparisons per output element. Average pooling: K_h * K_w per output element
  (K*K - 1 adds and one divide). Global average pooling: one add per input element (the divide is per channel
  and left out). Flatten and zero padding: 0 (they move data, they do no arithmetic).
- Activation layers: 1 per element (ReLU is a comparison); softmax and BatchNormalization have their own constants.
- Softmax cross-entropy loss: 5 per logit (subtract the max, exp, sum, log, pick the label's term).
- Training step of a layer = forward * (1 + [its input needs a gradient] + [it has weights]): the backward pass
  computes the gradient with respect to the layer's input (about one forward's work) unless nothing upstream has
  weights (the first convolution's input is the data: TensorFlow never computes that gradient), and the gradient
  with respect to its weights (again about one forward) if it has weights. So a hidden conv or dense layer costs
  3x its forward ("forward + 2x backward"), the first conv 2x, a pooling layer 2x.
- The optimiser update (Adam) costs ADAM_FLOPS_PER_PARAM per trainable parameter, once per step (not per image).
"""

from __future__ import annotations

# Keras Adam per parameter: m += (g - m)(1 - b1): 3; v += (g^2 - v)(1 - b2): 4; p -= lr_t * m / (sqrt(v) + eps): 5
ADAM_FLOPS_PER_PARAM = 12
SOFTMAX_XENT_PER_LOGIT = 5
# training-mode batch norm per element: mean (1), variance (subtract, square-add: 2), normalise (subtract,
# multiply by 1/sqrt: 2), scale and shift (2)
BATCHNORM_PER_ELEMENT = 7
# softmax as a layer: subtract max, exp, sum, divide
SOFTMAX_PER_ELEMENT = 4


def conv2d(h_out: int, w_out: int, k_h: int, k_w: int, c_in: int, c_out: int) -> int:
    """Multiply-adds of a 2-D convolution, per image, as FLOPs: 2 * H_out * W_out * K_h * K_w * C_in * C_out."""
    return 2 * h_out * w_out * k_h * k_w * c_in * c_out


def dense(n_in: int, n_out: int) -> int:
    """Multiply-adds of a dense (fully connected) layer, per image, as FLOPs: 2 * N_in * N_out."""
    return 2 * n_in * n_out


def max_pool(out_elements: int, k_h: int, k_w: int) -> int:
    """Comparisons of a max pooling layer per image: K_h * K_w - 1 per output element."""
    return out_elements * (k_h * k_w - 1)


def avg_pool(out_elements: int, k_h: int, k_w: int) -> int:
    """Average pooling per image: K_h * K_w - 1 adds and one divide per output element."""
    return out_elements * k_h * k_w


def activation(elements: int, name: str) -> int:
    """An activation over `elements` values: 0 for linear, softmax's constant for softmax, else 1 per element."""
    if name in ("linear", None, ""):
        return 0
    if name == "softmax":
        return SOFTMAX_PER_ELEMENT * elements
    return elements


def softmax_cross_entropy(classes: int) -> int:
    """Softmax cross-entropy of one image's logits against its label."""
    return SOFTMAX_XENT_PER_LOGIT * classes


def training_multiplier(has_weights: bool, input_needs_gradient: bool) -> int:
    """Forward + gradient w.r.t. the input (if anything upstream learns) + gradient w.r.t. the weights (if any)."""
    return 1 + int(input_needs_gradient) + int(has_weights)


def optimizer_update(trainable_params: int) -> int:
    """FLOPs of one Adam update of all trainable parameters (once per step, whatever the batch)."""
    return ADAM_FLOPS_PER_PARAM * trainable_params
