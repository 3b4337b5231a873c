"""The SavedModel's signature functions around a `kc.Colorizer`.

Only core TensorFlow ops (no py_function), so TF Serving runs them as they
are. All the colorizing is the Colorizer's own layers (`keras_colorize.layers`,
the path Python uses); this module adds only what a server needs around
them: decoding the bytes (each photo on its own, `tf.map_fn`, since photos
differ in size), checks with clear messages, and PNG encoding. The photos go
through the backbone as one batch at the working size and each is finished
with its own full-resolution lightness. Bad input fails the whole request with
INVALID_ARGUMENT and a message that names the image index and the problem.
"""

import tensorflow as tf

from keras_colorize.images import MAX_PIXELS, decode_image

FORMATS = ("JPEG", "PNG", "GIF", "BMP", "WebP")
_HEADER_BYTES = 32


def _uint(header, start: int, length: int, big_endian: bool = False):
    """Unsigned integer from `length` header bytes (int64)."""
    order = range(length) if big_endian else reversed(range(length))
    value = tf.constant(0, tf.int64)
    for i in order:
        value = value * 256 + header[start + i]
    return value


def _webp_size(header):
    """[height, width] of a RIFF/WEBP header (lossy, lossless or extended)."""
    lossless = header[15] == ord("L")
    extended = header[15] == ord("X")
    # VP8 (lossy): 14-bit width/height at bytes 26 and 28.
    lossy_w = _uint(header, 26, 2) % 16384
    lossy_h = _uint(header, 28, 2) % 16384
    # VP8L: 14 bits (width - 1) then 14 bits (height - 1) from byte 21.
    bits = _uint(header, 21, 4)
    lossless_w = bits % 16384 + 1
    lossless_h = (bits // 16384) % 16384 + 1
    # VP8X: 24-bit (canvas width - 1) at 24, (height - 1) at 27.
    extended_w = _uint(header, 24, 3) + 1
    extended_h = _uint(header, 27, 3) + 1
    width = tf.where(extended, extended_w, tf.where(lossless, lossless_w, lossy_w))
    height = tf.where(extended, extended_h, tf.where(lossless, lossless_h, lossy_h))
    return tf.stack([height, width])


def header_size(data, code):
    """[height, width] (int64) read from the file header of format `code`.

    JPEG via `tf.image.extract_jpeg_shape`; PNG, GIF, BMP and WebP store their
    dimensions at fixed offsets of the first 30 bytes.
    """
    padded = tf.strings.join([data, tf.constant(b"\0" * _HEADER_BYTES)])
    header = tf.cast(tf.io.decode_raw(tf.strings.substr(padded, 0, _HEADER_BYTES), tf.uint8), tf.int64)

    def png():
        return tf.stack([_uint(header, 20, 4, big_endian=True), _uint(header, 16, 4, big_endian=True)])

    def bmp():
        # BITMAPINFOHEADER and later: signed 32-bit sizes (negative height: rows top-down);
        # the old 12-byte OS/2 header: unsigned 16-bit.
        core = _uint(header, 14, 4) == 12
        height = _uint(header, 22, 4)
        height = tf.where(height >= 2**31, 2**32 - height, height)
        height = tf.where(core, _uint(header, 20, 2), height)
        return tf.stack([height, tf.where(core, _uint(header, 18, 2), _uint(header, 18, 4))])

    branches = [
        lambda: tf.cast(tf.image.extract_jpeg_shape(data)[:2], tf.int64),
        png,
        lambda: tf.stack([_uint(header, 8, 2), _uint(header, 6, 2)]),
        bmp,
        lambda: _webp_size(header),
        lambda: tf.zeros([2], tf.int64),
    ]
    return tf.switch_case(code, branches)


def image_format(data):
    """Index into FORMATS from the magic bytes, len(FORMATS) if none matches."""
    start = tf.strings.substr(tf.strings.join([data, tf.constant(b"\0" * 12)]), 0, 12)
    matches = tf.stack(
        [
            tf.strings.substr(start, 0, 3) == b"\xff\xd8\xff",
            tf.strings.substr(start, 0, 8) == b"\x89PNG\r\n\x1a\n",
            tf.strings.substr(start, 0, 4) == b"GIF8",
            tf.strings.substr(start, 0, 2) == b"BM",
            (tf.strings.substr(start, 0, 4) == b"RIFF") & (tf.strings.substr(start, 8, 4) == b"WEBP"),
            tf.constant(True),
        ]
    )
    return tf.cast(tf.argmax(tf.cast(matches, tf.int32)), tf.int32)


def checked_decode(data, index, max_pixels: int = MAX_PIXELS):
    """Validate one encoded photo (format, size from its header) and decode it.

    The pixel limit is checked on the header, before any pixel is decoded,
    with the message of `images.too_large_message`.
    """
    name = tf.strings.format("image_bytes[{}]", index)
    code = image_format(data)
    size = header_size(data, code)
    megapixels = tf.strings.as_string(tf.cast(size[0] * size[1], tf.float64) / 1e6, precision=1)
    checks = [
        tf.debugging.Assert(tf.strings.length(data) > 0, [tf.strings.join([name, ": empty, no bytes"])]),
        tf.debugging.Assert(
            code < len(FORMATS),
            [tf.strings.join([name, ": not an image (expected ", ", ".join(FORMATS), " bytes)"])],
        ),
        tf.debugging.Assert(
            size[0] * size[1] <= max_pixels,
            [
                tf.strings.join(
                    [
                        name,
                        tf.strings.format(": too large, {}x{} = ", (size[1], size[0])),
                        megapixels,
                        f" megapixels (the limit is {max_pixels / 1e6:g} megapixels)",
                    ]
                )
            ],
        ),
    ]
    with tf.control_dependencies(checks):
        return decode_image(tf.identity(data))


def _check_batch(count, temperature):
    return [
        tf.debugging.assert_positive(count, message="Empty batch: send at least one image"),
        tf.debugging.assert_equal(
            tf.size(temperature), count, message="temperature needs exactly one value per image"
        ),
        tf.debugging.assert_positive(temperature, message="temperature must be > 0"),
    ]


def colorize_bytes(colorizer, image_bytes, temperature, max_pixels: int = MAX_PIXELS):
    """Encoded photos [N] + temperatures [N] -> colorized PNG bytes [N], each at its own size.

    Photos are decoded twice (for the batched forward pass, then for the
    full-resolution recombination) so only one full-size photo is held at a time.
    """
    size = colorizer.work_size
    count = tf.size(image_bytes)
    with tf.control_dependencies(_check_batch(count, temperature)):
        indices = tf.range(count)

    def shrink(args):
        data, index = args
        return colorizer.preprocessor.work_lightness(checked_decode(data, index, max_pixels)[None])[0]

    small = tf.map_fn(
        shrink,
        (image_bytes, indices),
        fn_output_signature=tf.TensorSpec([size, size, 1], tf.float32),
        parallel_iterations=1,
    )
    ab_small = colorizer.decoder(colorizer.backbone(small, training=False), temperature)

    def finish(args):
        data, ab = args
        # Decode again only after the checked pass: a lowered while loop may otherwise
        # start this unchecked decode early, and its error would mask the clear one.
        with tf.control_dependencies([ab]):
            data = tf.identity(data)
        rgb = decode_image(data)[None]
        # Level 1: 10x faster than zlib's default for ~15% larger files.
        return tf.io.encode_png(
            colorizer.postprocessor(colorizer.preprocessor.lightness(rgb), ab[None])[0], 1
        )

    return tf.map_fn(
        finish,
        (image_bytes, ab_small),
        fn_output_signature=tf.TensorSpec([], tf.string),
        parallel_iterations=1,
    )


def signature_functions(colorizer, max_pixels: int = MAX_PIXELS):
    """{name: (fn, input_signature)} for ExportArchive.add_endpoint."""
    image_spec = tf.TensorSpec([None], tf.string, name="image_bytes")
    temperature_spec = tf.TensorSpec([None], tf.float32, name="temperature")
    pixels_spec = tf.TensorSpec([None, None, None, None], tf.uint8, name="images")

    def serving_default(image_bytes):
        temperature = tf.fill(tf.shape(image_bytes), tf.constant(colorizer.temperature, tf.float32))
        return {"colorized_png_bytes": colorize_bytes(colorizer, image_bytes, temperature, max_pixels)}

    def colorize(image_bytes, temperature):
        return {"colorized_png_bytes": colorize_bytes(colorizer, image_bytes, temperature, max_pixels)}

    def _checked_pixels(images):
        shape = tf.shape(images)
        checks = [
            tf.debugging.assert_positive(shape[0], message="Empty batch: send at least one image"),
            tf.debugging.Assert(
                (shape[3] == 1) | (shape[3] == 3),
                ["images must be uint8 [N, H, W, 3] (RGB) or [N, H, W, 1] (gray); got", shape],
            ),
            tf.debugging.assert_less_equal(
                tf.cast(shape[1], tf.int64) * tf.cast(shape[2], tf.int64),
                tf.constant(max_pixels, tf.int64),
                message=f"images are too large: the limit is {max_pixels / 1e6:g} megapixels per image",
            ),
        ]
        with tf.control_dependencies(checks):
            return tf.identity(images)

    def ab(images, temperature):
        images = _checked_pixels(images)
        with tf.control_dependencies(_check_batch(tf.shape(images)[0], temperature)):
            temperature = tf.identity(temperature)
        return {"ab": colorizer.predict_ab(images, temperature)}

    def distribution(images):
        return {"probs": colorizer.distribution(_checked_pixels(images))}

    functions = {
        "serving_default": (serving_default, [image_spec]),
        "colorize": (colorize, [image_spec, temperature_spec]),
        "ab": (ab, [pixels_spec, temperature_spec]),
    }
    if not colorizer.regression:
        functions["distribution"] = (distribution, [pixels_spec])
    return functions
