"""FLOPs of the colorization network from its layer shapes (no TensorFlow needed).

A convolution costs 2 * (output pixels) * (output channels) * k * k * (input
channels) multiply-adds counted as 2 FLOPs; a transposed convolution the same
per input pixel. Training costs about 3x the forward pass: the backward pass
computes a gradient for the inputs and one for the weights, each about as
expensive as the forward convolution.
"""

import keras

TRAINING_MULTIPLIER = 3


def forward_flops(model: keras.Model, image_size: int) -> int:
    """Forward FLOPs for one image of image_size x image_size (convolutions only; the rest is <1%)."""
    shape = (1, image_size, image_size, 1)
    total = 0
    for layer in model.layers[1:]:  # the chain after the input
        out_shape = layer.compute_output_shape(shape)
        if isinstance(layer, keras.layers.Conv2DTranspose):
            k_h, k_w, c_out, c_in = layer.kernel.shape
            total += 2 * shape[1] * shape[2] * c_in * k_h * k_w * c_out
        elif isinstance(layer, keras.layers.Conv2D):
            k_h, k_w, c_in, c_out = layer.kernel.shape
            total += 2 * out_shape[1] * out_shape[2] * c_out * k_h * k_w * c_in
        shape = out_shape
    return total


def training_flops(model: keras.Model, image_size: int) -> int:
    return TRAINING_MULTIPLIER * forward_flops(model, image_size)
