"""`kc.Colorizer`: the task model, uint8 photos in, colorized uint8 photos out.

As a keras-hub task it wraps a backbone (`kc.Backbone`, from
`kc.build_model`) with the layers of `keras_colorize.layers`:

    photos uint8 [N, H, W, 3 | 1]
      -> ColorizerPreprocessor: L [N, H, W, 1] and L at the working size
      -> backbone: 313-bin distribution (or ab) at 1/4 of the working size
      -> ColorDecoder: ab (annealed mean at the model's temperature)
      -> ColorizerPostprocessor: ab at the photo's size + its own L -> uint8 RGB

It saves and loads whole (`save("x.keras")` / `keras.models.load_model`,
`save_to_preset` / `from_preset`), with the training prior and the
provenance (`metadata`) inside it.
"""

import json
import os
import sys
from collections.abc import Sequence

import keras
import numpy as np
from keras import ops

from keras_colorize.bins import NUM_BINS
from keras_colorize.decoding import DEFAULT_TEMPERATURE
from keras_colorize.images import MAX_PIXELS
from keras_colorize.layers import (
    WORK_SIZE,
    ColorDecoder,
    ColorizerPostprocessor,
    ColorizerPreprocessor,
    check_photos,
    check_temperature,
    colorize_rows,
)
from keras_colorize.model import Backbone

_STRIP_PIXELS = 1 << 20  # `colorize` finishes photos in bands of ~1 megapixel
# What `with_settings` and `from_preset(**overrides)` may change without retraining.
SETTINGS = ("temperature", "work_size", "decoding", "prior", "metadata")


class _ClassProperty:
    def __init__(self, fget):
        self.fget = fget

    def __get__(self, instance, owner):
        return self.fget(owner)


def _presets(cls) -> dict[str, str]:
    from keras_colorize.presets import bundled_presets

    return bundled_presets()


def _checked_prior(prior) -> np.ndarray:
    prior = np.asarray(prior, np.float64)
    if prior.shape != (NUM_BINS,) or not np.all(np.isfinite(prior)) or np.any(prior < 0):
        raise ValueError(f"prior must be {NUM_BINS} non-negative numbers (a distribution over the bins)")
    if not np.isclose(prior.sum(), 1.0, atol=1e-4):
        raise ValueError(f"prior must sum to 1, got {prior.sum():.6f}")
    return prior


@keras.saving.register_keras_serializable(package="keras_colorize")
class Colorizer(keras.Model):
    """Colorize photos: uint8 [N, H, W, 3] (or gray [N, H, W, 1]) -> uint8 RGB [N, H, W, 3].

    Photos of any size: L is taken at the photo's own size and kept exactly;
    only ab is predicted, at the working size, then upsampled and recombined.
    Float photos, L arrays, unbatched photos and RGBA are refused with a
    `ValueError` that says what is expected.

    Args:
        backbone: a `kc.Backbone` (any variant of `kc.build_model`, the 313-way
            heads or `l2`).
        temperature: the annealed mean's temperature (> 0); lower is more vivid.
        work_size: the square size the backbone sees (the paper's 256; a model
            trained on small crops sees objects at that scale).
        decoding: "annealed_mean", "mean" or "mode".
        prior: the training prior over the 313 bins (float [313], sums to 1) or
            None; evaluation needs it for the class-rebalanced metrics.
        metadata: JSON-serialisable provenance (variant, training data, steps,
            metrics, ...), kept in the saved model and in a preset's
            metadata.json.

    Example:

    >>> import numpy as np, keras_colorize as kc
    >>> colorizer = kc.Colorizer(kc.build_model("4block", width=0.125), work_size=64)
    >>> photos = np.zeros((2, 301, 199, 3), "uint8")
    >>> colorizer.predict(photos, verbose=0).shape
    (2, 301, 199, 3)
    >>> colorizer.save("/tmp/colorizer.keras")
    >>> import keras
    >>> type(keras.models.load_model("/tmp/colorizer.keras")).__name__
    'Colorizer'
    """

    presets = _ClassProperty(_presets)

    def __init__(
        self,
        backbone: Backbone,
        temperature: float = DEFAULT_TEMPERATURE,
        work_size: int = WORK_SIZE,
        decoding: str = "annealed_mean",
        prior: np.ndarray | None = None,
        metadata: dict | None = None,
        **kwargs,
    ):
        if not isinstance(backbone, Backbone):
            raise TypeError(f"backbone must be a kc.Backbone (from kc.build_model), got {type(backbone)}")
        super().__init__(**kwargs)
        self.backbone = backbone
        self.preprocessor = ColorizerPreprocessor(work_size, name="preprocessor")
        if self.preprocessor.work_size % backbone.size_multiple:
            raise ValueError(
                f"work_size must be a multiple of {backbone.size_multiple} for the {backbone.variant} "
                f"backbone, got {work_size}"
            )
        self.decoder = ColorDecoder(decoding, temperature, backbone.regression, name="decoder")
        self.postprocessor = ColorizerPostprocessor(name="postprocessor")
        self._prior = None if prior is None else _checked_prior(prior)
        self._metadata_json = json.dumps(metadata or {}, sort_keys=True)  # also proves it serialisable
        self._runner = None  # `use_runtime`: another runtime for `colorize`'s network
        self.built = True

    # -- what it is ------------------------------------------------------------

    @property
    def temperature(self) -> float:
        return self.decoder.temperature

    @property
    def decoding(self) -> str:
        return self.decoder.decoding

    @property
    def work_size(self) -> int:
        return self.preprocessor.work_size

    @property
    def regression(self) -> bool:
        """True for the `l2` backbone (ab out) rather than a 313-bin distribution."""
        return self.backbone.regression

    @property
    def prior(self) -> np.ndarray | None:
        """The training prior (float64 [313]) or None."""
        return None if self._prior is None else self._prior.copy()

    @property
    def metadata(self) -> dict:
        """Provenance (a copy; change it with `with_settings(metadata=...)`)."""
        return json.loads(self._metadata_json)

    def get_config(self) -> dict:
        return {
            "name": self.name,
            "trainable": self.trainable,
            "backbone": keras.saving.serialize_keras_object(self.backbone),
            "temperature": self.temperature,
            "work_size": self.work_size,
            "decoding": self.decoding,
            "prior": None if self._prior is None else self._prior.tolist(),
            "metadata": self.metadata,
        }

    @classmethod
    def from_config(cls, config: dict) -> "Colorizer":
        config = dict(config)
        config["backbone"] = keras.saving.deserialize_keras_object(config["backbone"])
        return cls(**config)

    # -- the model -------------------------------------------------------------

    def call(self, images, temperature=None):
        """uint8 photos -> uint8 RGB; `temperature`: None (the model's), scalar or [N]."""
        return self.postprocessor(*self._lightness_and_ab(images, temperature))

    def _lightness_and_ab(self, images, temperature):
        """(L at the photos' size, decoded ab at the backbone's resolution)."""
        lightness, small = self.preprocessor(images)
        return lightness, self.decoder(self.backbone(small, training=False), temperature)

    def predict(self, x, *args, **kwargs):
        """`keras.Model.predict`; photos are checked first (its retraced graphs may not know their shape).

        Its progress bar is drawn only on a terminal (`verbose` not given: 0 when stdout is a file or a
        pipe, so logs hold no escape codes).
        """
        if hasattr(x, "dtype") and hasattr(x, "shape"):
            check_photos(x)
        if len(args) < 2:  # verbose is predict's third positional argument
            kwargs.setdefault("verbose", "auto" if sys.stdout.isatty() else 0)
        return super().predict(x, *args, **kwargs)

    def predict_ab(self, images, temperature=None):
        """uint8 photos -> decoded ab float32 [N, H, W, 2] at the photos' size."""
        lightness, ab = self._lightness_and_ab(images, temperature)
        shape = ops.shape(lightness)
        return self.postprocessor.upsample(ab, shape[1], shape[2])

    def distribution(self, images):
        """uint8 photos -> the backbone's probabilities [N, work/4, work/4, 313]."""
        if self.regression:
            raise ValueError("The l2 model predicts ab directly; it has no distribution over bins.")
        _, small = self.preprocessor(images)
        return self.backbone(small, training=False)

    # -- photos of any kind, from Python -----------------------------------------

    def colorize(
        self, images, temperature: float | None = None, batch_size: int = 8, max_pixels: int = MAX_PIXELS
    ):
        """Colorize one photo or a list of them, each at its own size.

        The same layers as `predict` (the network compiled, the rest eager): photos of different sizes
        share a forward pass at the working size, and each is finished a band
        of rows at a time (exact, and ~1 megapixel of float temporaries).

        Args:
            images: a path, encoded bytes, a uint8 array ([H, W] gray,
                [H, W, 1 | 2 | 3 | 4]; alpha is dropped), a uint8 [N, H, W, C]
                batch, or a list of these.
            temperature: None (the model's) or a temperature > 0.
            batch_size: photos per forward pass.
            max_pixels: larger photos are refused (`UnreadableImageError`).

        Returns:
            uint8 RGB [H, W, 3] per photo: an array for a single photo, a list
            for a list, [N, H, W, 3] for a 4-D array.
        """
        temperature = self.temperature if temperature is None else temperature
        check_temperature(temperature)
        if isinstance(images, np.ndarray) and images.ndim == 4:
            return np.stack(self.colorize(list(images), temperature, batch_size, max_pixels))
        single = not isinstance(images, Sequence) or isinstance(images, (str, bytes, bytearray))
        items = [images] if single else list(images)
        names = [None if isinstance(x, (str, os.PathLike)) else f"image {i}" for i, x in enumerate(items)]
        outputs = []
        for start in range(0, len(items), batch_size):  # decode one batch at a time
            batch = range(start, min(start + batch_size, len(items)))
            rgbs = [load_photo(items[i], names[i], max_pixels) for i in batch]
            outputs.extend(self._colorize_batch(rgbs, temperature))
        return outputs[0] if single else outputs

    @property
    def runner(self):
        """The runner `colorize` uses for the network (`use_runtime`), None for the Keras backbone."""
        return self._runner

    def use_runtime(self, runner) -> "Colorizer":
        """Run `colorize`'s network on `runner` (`keras_colorize.runtimes`; None: the Keras backbone).

        Pre- and post-processing stay these layers; `call`, `predict` and the
        exported SavedModel keep the Keras backbone. Returns self.
        """
        self._runner = runner
        return self

    def run_network(self, small):
        """The network of `colorize` on working-size L [N, s, s, 1]: the backbone, or `runner` when set.

        With `finish`, the hook for callers that work between the network and
        the decoder (`keras_colorize.video` smooths a film's log-probabilities
        there): `colorize` is `finish(rgb, decoder(run_network(work_lightness(rgb))))`.
        The Keras backbone runs compiled (`predict_on_batch`): eagerly it took
        192 ms against 71 ms for one 192 px photo of the bundled preset
        (bench/inference.py, "where the time of one photo goes").

        Args:
            small: `preprocessor.work_lightness` of uint8 photos.

        Example:

        >>> import numpy as np, keras_colorize as kc
        >>> colorizer = kc.Colorizer(kc.build_model("4block", width=0.125), work_size=64)
        >>> rgb = np.zeros((40, 30, 3), "uint8")
        >>> probs = colorizer.run_network(colorizer.preprocessor.work_lightness(rgb[None]))
        >>> tuple(probs.shape)
        (1, 16, 16, 313)
        >>> colorizer.finish(rgb, colorizer.decoder(probs)).shape
        (40, 30, 3)
        """
        if self._runner is None:
            return self.backbone.predict_on_batch(small)
        return self._runner(ops.convert_to_numpy(small))

    def _colorize_batch(self, rgbs: list[np.ndarray], temperature: float) -> list[np.ndarray]:
        small = ops.concatenate([self.preprocessor.work_lightness(rgb[None]) for rgb in rgbs], axis=0)
        temperatures = np.full((len(rgbs),), temperature, np.float32)
        ab = self.decoder(self.run_network(small), temperatures)
        return [self.finish(rgb, ab[i : i + 1]) for i, rgb in enumerate(rgbs)]

    def finish(self, rgb: np.ndarray, ab) -> np.ndarray:
        """uint8 RGB [H, W, 3] and its decoded ab [1, h, w, 2] -> the colorized uint8 RGB [H, W, 3].

        ab is upsampled to the photo's size and recombined with its own L, a
        band of rows at a time (~1 megapixel of float temporaries).

        Args:
            rgb: the photo (its L is kept).
            ab: the decoder's output for it, at the network's resolution (see `run_network`).
        """
        height, width = rgb.shape[:2]
        rows = max(1, _STRIP_PIXELS // width)
        full_height = ops.convert_to_tensor(height, "int32")
        bands = [
            _FINISH_ROWS(rgb[None, top : top + rows], ab, full_height, ops.convert_to_tensor(top, "int32"))
            for top in range(0, height, rows)
        ]
        return np.concatenate([ops.convert_to_numpy(band)[0] for band in bands], axis=0)

    # -- presets ---------------------------------------------------------------

    @classmethod
    def from_preset(
        cls,
        name_or_path: str | os.PathLike | None = None,
        runtime: str = "tensorflow",
        precision: str = "float32",
        calibration_data: Sequence[str] | None = None,
        **overrides,
    ) -> "Colorizer":
        """A bundled preset's name, a preset folder or a `.keras` file -> Colorizer.

        A `.keras` file of a bare network (a `kc.Backbone`) is wrapped with the default settings.

        Args:
            name_or_path: None for the default bundled preset
                (`keras_colorize.presets.DEFAULT_PRESET`), a name of
                `Colorizer.presets`, a folder written by `save_to_preset`, or a
                `.keras` file. Nothing else is guessed.
            runtime: what runs the network of `colorize`: "tensorflow",
                "openvino", "onnxruntime" or "auto" (the fastest installed;
                `keras_colorize.runtimes`). A folder exported with
                `--format=onnx|openvino` supplies its network file.
            precision: "float32", "bfloat16", "int8" or "auto" (bfloat16 where
                the CPU computes it natively).
            calibration_data: photo files or folders to quantise with, for int8
                when the folder holds no int8 network.
            **overrides: `temperature`, `work_size`, `decoding`, `prior` or
                `metadata` to use instead of the saved ones.

        Example:

        >>> import keras_colorize as kc
        >>> kc.Colorizer(kc.build_model("4block", width=0.125)).save_to_preset("/tmp/tiny_preset")
        '/tmp/tiny_preset'
        >>> kc.Colorizer.from_preset("/tmp/tiny_preset", temperature=0.2).temperature
        0.2
        >>> kc.Colorizer.from_preset("/tmp/tiny_preset", precision="bfloat16").runner.precision
        'bfloat16'
        """
        from keras_colorize.presets import load_colorizer, resolve

        colorizer = load_colorizer(name_or_path)
        if not isinstance(colorizer, Colorizer):  # a bare network saved as .keras: the default settings
            colorizer = colorizer_of_network(colorizer)
        if overrides:
            colorizer = colorizer.with_settings(**overrides)
        if (runtime, precision) == ("tensorflow", "float32"):
            return colorizer
        from keras_colorize.runtimes import make_runner

        folder = resolve(name_or_path)
        folder = folder if os.path.isdir(folder) else None
        return colorizer.use_runtime(make_runner(colorizer, runtime, precision, folder, calibration_data)[0])

    def save_to_preset(self, folder: str | os.PathLike, weights_dtype: str = "float32") -> str:
        """Write config.json, model.weights.h5 and metadata.json into `folder`; returns it.

        Args:
            folder: created if needed; the three files are each written to a
                temporary name and renamed.
            weights_dtype: "float32", or "float16" to halve the file (loaded
                back into float32 variables).
        """
        from keras_colorize.presets import save_preset

        return save_preset(self, folder, weights_dtype)

    def with_settings(self, **overrides) -> "Colorizer":
        """The same backbone (shared weights) with other `temperature`, `work_size`,
        `decoding`, `prior` or `metadata`."""
        unknown = set(overrides) - set(SETTINGS)
        if unknown:
            raise ValueError(f"Unknown overrides {sorted(unknown)}; the settings are {', '.join(SETTINGS)}")
        config = self.get_config()
        config.update(overrides, backbone=self.backbone)
        return type(self)(**config)


def colorizer_of_network(network: keras.Model) -> Colorizer:
    """A bare network saved as .keras (a `kc.Backbone`, or an older functional `colorizer_<variant>`
    model) wrapped as a Colorizer with the default settings (`from_preset` does it), so it colorizes,
    exports and evaluates like any other model.

    Args:
        network: the loaded model: L [N, H, W, 1] -> [N, H/4, W/4, 313] (or 2 for `l2`).
    """
    from keras_colorize.model import VARIANTS

    if isinstance(network, Backbone):
        return Colorizer(network, metadata={"variant": network.variant})
    variant = network.name.removeprefix("colorizer_")
    convs = [layer for layer in network.layers if isinstance(layer, keras.layers.Conv2D)]
    if variant not in VARIANTS or not convs or network.input_shape[-1] != 1:
        raise ValueError(
            f"{network.name}: not a colorizer (a kc.Colorizer, a kc.Backbone or a colorizer_<variant> "
            "network)"
        )
    width = convs[0].filters / VARIANTS[variant][0].channels  # conv1's channels at width 1
    backbone = Backbone(variant, width)
    if [w.shape for w in backbone.weights] != [w.shape for w in network.weights]:
        raise ValueError(
            f"{network.name}: its layers are not those of the {variant} variant at width {width:g}"
        )
    backbone.set_weights(network.get_weights())
    return Colorizer(backbone, metadata={"variant": variant, "width": width})


def load_photo(image, name: str | None = None, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """A path, encoded bytes or a uint8 array -> uint8 RGB [H, W, 3], else `UnreadableImageError`.

    Arrays may be [H, W] (gray) or [H, W, 1 | 2 | 3 | 4] (alpha is dropped).
    """
    from keras_colorize.images import UnreadableImageError, image_from_bytes, too_large_message

    if isinstance(image, (str, os.PathLike)):
        name = name or os.fspath(image)
        try:
            with open(image, "rb") as file:
                image = file.read()
        except OSError as error:
            raise UnreadableImageError(f"{name}: cannot read ({error.strerror})") from None
    if isinstance(image, (bytes, bytearray, memoryview)):
        return image_from_bytes(bytes(image), name or "<bytes>", max_pixels)
    name = name or "<array>"
    array = np.asarray(image)
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3 or array.shape[-1] not in (1, 2, 3, 4) or 0 in array.shape:
        raise UnreadableImageError(f"{name}: expected an [H, W], [H, W, 1|2|3|4] photo, got {array.shape}")
    if array.dtype != np.uint8:
        raise UnreadableImageError(
            f"{name}: expected uint8 pixels 0..255, got {array.dtype} "
            "(for float RGB in 0..1 pass np.round(x * 255).astype('uint8'))"
        )
    if array.shape[0] * array.shape[1] > max_pixels:
        raise UnreadableImageError(too_large_message(name, array.shape[1], array.shape[0], max_pixels))
    if array.shape[-1] in (2, 4):  # drop alpha: only the lightness is used
        array = array[..., :-1]
    return np.repeat(array, 3, axis=-1) if array.shape[-1] == 1 else array


def _compiled(function):
    """`function` as one TensorFlow graph for any shape (sizes are tensors): eager ops cost more than
    their maths on photos of a few hundred pixels (35 ms eager against 16 ms compiled for the
    post-processing of a 256 px photo). Other backends run it as it is."""
    if keras.backend.backend() != "tensorflow":
        return function
    import tensorflow as tf

    return tf.function(function, reduce_retracing=True)


# `finish`'s L, upsampling and Lab -> RGB as one graph (any photo size: the sizes are tensors).
_FINISH_ROWS = _compiled(colorize_rows)

__all__ = ["Colorizer", "check_photos", "colorizer_of_network", "load_photo"]
