"""``require``: an optional dependency that is missing names the pip extra; a present one is returned."""

from __future__ import annotations

import json

import pytest

from edgedet.deploy.optional import require


def test_missing_optional_dependency_names_the_extra():
    with pytest.raises(ImportError, match=r"'edgedet_no_such_runtime_module' .* pip install 'edgedet\[tflite\]'"):
        require("edgedet_no_such_runtime_module", "tflite")


def test_present_module_is_returned():
    assert require("json", "runtime") is json
