"""The extras' skip convention (tests/fixtures/extras.py): skip naming the extra, fail under CI=true."""

import pytest
from fixtures import extras

MISSING = "keras_colorize_no_such_module"


def test_a_missing_extra_skips_with_its_install_command(monkeypatch):
    monkeypatch.setattr(extras, "IN_CI", False)
    with pytest.raises(pytest.skip.Exception, match=r'needs the cpu extra .*pip install -e "\.\[cpu\]"'):
        extras.needs(MISSING, "cpu")
    with pytest.raises(pytest.skip.Exception, match=r"pip install --no-deps apache-beam==2\.77\.0"):
        extras.needs(MISSING, "beam")
    mark = extras.requires("video", "os", MISSING)
    assert mark.args == (True,) and MISSING in mark.kwargs["reason"] and ".[video]" in mark.kwargs["reason"]


def test_a_missing_extra_fails_in_ci(monkeypatch):
    monkeypatch.setattr(extras, "IN_CI", True)
    with pytest.raises(pytest.fail.Exception, match="CI installs every extra"):
        extras.needs(MISSING, "serving")
    assert extras.requires("video", MISSING).args == (False,)  # never skipped: the test itself fails


def test_an_installed_module_is_returned():
    assert extras.needs("numpy", "dev").__name__ == "numpy"
    assert extras.requires("dev", "numpy").args == (False,)
