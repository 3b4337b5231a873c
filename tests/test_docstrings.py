"""The Examples in the public classes' docstrings run and print what they say."""

import doctest

import pytest

from keras_colorize import colorizer, layers, losses, model


@pytest.mark.parametrize("module", [colorizer, layers, losses, model], ids=lambda m: m.__name__)
def test_docstring_examples(module, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0, result
