"""FLOPs of the colorization network from its layer shapes (no TensorFlow needed).

A convolution costs 2 * (output pixels) * (output channels) * k * k * (input
channels) multiply-adds counted as 2 FLOPs; a transposed convolution the same
per input pixel. Training costs about 3x the forward pass: the backward pass
computes a gradient for the inputs and one for the weights, each about as
expensive as the forward convolution.
"""

import keras

TRAINING_MULTIPLIER = 3
CONVOLUTIONS = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.Conv2DTranspose)


def _convolutions(model: keras.Model) -> list[keras.layers.Layer]:
    """Every convolution in the model, nested models included."""
    return [
        layer
        for layer in model._flatten_layers(include_self=False, recursive=True)
        if isinstance(layer, CONVOLUTIONS)
    ]


def forward_flops(model: keras.Model, image_size: int) -> int:
    """Forward FLOPs for one image of image_size x image_size (convolutions only; the rest is <1%).

    Runs the model once on zeros and records each convolution's input and output shapes, so any
    topology counts (a chain, a U-Net with skips, nested encoders).
    """
    shapes: dict[int, tuple] = {}

    def recording(layer):
        call = layer.call

        def wrapped(inputs, *args, **kwargs):
            outputs = call(inputs, *args, **kwargs)
            shapes[id(layer)] = (tuple(inputs.shape), tuple(outputs.shape))
            return outputs

        return wrapped

    convolutions = _convolutions(model)
    for layer in convolutions:
        layer.call = recording(layer)
    try:
        model(keras.ops.zeros((1, image_size, image_size, 1)))
    finally:
        for layer in convolutions:
            del layer.call
    total = 0
    for layer in convolutions:
        (_, in_h, in_w, c_in), (_, out_h, out_w, c_out) = shapes[id(layer)]
        k_h, k_w = layer.kernel_size
        if isinstance(layer, keras.layers.DepthwiseConv2D):
            total += 2 * out_h * out_w * c_out * k_h * k_w
        elif isinstance(layer, keras.layers.Conv2DTranspose):
            total += 2 * in_h * in_w * c_in * k_h * k_w * c_out
        else:
            total += 2 * out_h * out_w * c_out * k_h * k_w * c_in // layer.groups
    return total


def training_flops(model: keras.Model, image_size: int) -> int:
    return TRAINING_MULTIPLIER * forward_flops(model, image_size)
