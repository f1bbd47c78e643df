"""The analytic FLOP count of the default conv-net, checked against the hand computation in docs/bench.md."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tfdoctor.bench import flops
from tfdoctor.bench.model import convnet_records, forward_flops, layer_table


def test_conv_flops_follow_the_textbook_formula():
    # 2 * H_out * W_out * K * K * C_in * C_out: the first conv of the default model, by hand
    assert flops.conv2d(30, 30, 3, 3, 3, 32) == 2 * 30 * 30 * 3 * 3 * 3 * 32 == 1_555_200
    assert flops.conv2d(13, 13, 3, 3, 32, 64) == 6_230_016


def test_dense_pool_and_loss_flops_follow_the_stated_convention():
    assert flops.dense(2304, 10) == 46_080
    assert flops.max_pool(15 * 15 * 32, 2, 2) == 21_600  # 3 comparisons per output element
    assert flops.softmax_cross_entropy(10) == 50


def test_training_step_is_forward_plus_the_gradients_that_are_needed():
    assert flops.training_multiplier(has_weights=True, input_needs_gradient=True) == 3  # hidden conv/dense
    assert flops.training_multiplier(has_weights=True, input_needs_gradient=False) == 2  # first conv: input is data
    assert flops.training_multiplier(has_weights=False, input_needs_gradient=True) == 2  # pooling, loss


def test_default_convnet_per_layer_counts_match_the_hand_computation():
    count = layer_table(convnet_records(), batch_size=128)
    by_name = {layer.name: layer for layer in count.layers}
    # forward per image: conv (MACs) + bias + ReLU, one per output element each
    assert by_name["conv2d"].forward_flops == 1_555_200 + 28_800 + 28_800
    assert by_name["conv2d"].train_flops == 2 * 1_612_800
    assert by_name["max_pooling2d"].train_flops == 2 * 21_600
    assert by_name["conv2d_1"].forward_flops == 6_230_016 + 10_816 + 10_816
    assert by_name["conv2d_1"].train_flops == 3 * 6_251_648
    assert by_name["max_pooling2d_1"].output_shape == (6, 6, 64)
    assert by_name["max_pooling2d_1"].train_flops == 2 * 6_912
    assert by_name["flatten"].train_flops == 0
    assert by_name["dense"].train_flops == 3 * (46_080 + 10)
    assert by_name["loss"].train_flops == 2 * 50
    assert count.params == 896 + 18_496 + 23_050 == 42_442


def test_default_convnet_step_flops_match_the_hand_total():
    count = layer_table(convnet_records(), batch_size=128)
    assert count.forward_flops_per_image == 7_939_100
    assert count.train_flops_per_image == 22_175_938
    assert count.optimizer_flops == 12 * 42_442
    assert count.flops_per_step == 128 * 22_175_938 + 509_304 == 2_839_029_368
    # about 3x the forward pass, a little less because the first conv's input needs no gradient
    assert 2.7 < count.train_flops_per_image / count.forward_flops_per_image < 3.0
    assert count.uncounted == ()


def test_a_layer_kind_without_formula_counts_zero_and_is_named():
    count = layer_table([{"name": "x", "kind": "Bidirectional", "output_shape": [4], "params": 10}], batch_size=2)
    assert count.layers[0].train_flops == 0
    assert count.uncounted == ("Bidirectional",)


def test_resnet_style_layers_have_formulas():
    add = {"kind": "Add", "input_shapes": [[7, 7, 8], [7, 7, 8]], "output_shape": [7, 7, 8]}
    assert forward_flops(add) == (7 * 7 * 8, True)
    bn = {"kind": "BatchNormalization", "output_shape": [7, 7, 8]}
    assert forward_flops(bn) == (flops.BATCHNORM_PER_ELEMENT * 392, True)
    gap = {"kind": "GlobalAveragePooling2D", "input_shapes": [[7, 7, 2048]], "output_shape": [2048]}
    assert forward_flops(gap) == (7 * 7 * 2048, True)


_json = st.recursive(st.none() | st.booleans() | st.integers(-5, 5) | st.text(max_size=5),
                     lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner,
                                                                                  max_size=4), max_leaves=12)


@given(st.dictionaries(st.sampled_from(["kind", "name", "input_shapes", "output_shape", "params", "config",
                                        "trainable_params"]), _json))
def test_any_layer_record_is_counted_without_raising(record):
    record.setdefault("kind", "Conv2D")
    count = layer_table([record], batch_size=4)
    assert count.flops_per_step >= 0
