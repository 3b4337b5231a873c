"""Shared fixtures: small committed photos, so no test needs ../shared."""

import os
import pathlib

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

FIXTURES = pathlib.Path(__file__).parent / "fixtures"
PHOTOS = FIXTURES / "photos"


@pytest.fixture(scope="session")
def photo_paths() -> list[pathlib.Path]:
    return sorted(p for p in PHOTOS.iterdir() if p.suffix.lower() in (".jpg", ".png"))


@pytest.fixture(scope="session")
def photos(photo_paths) -> list[np.ndarray]:
    from PIL import Image

    return [np.asarray(Image.open(p).convert("RGB")) for p in photo_paths]
