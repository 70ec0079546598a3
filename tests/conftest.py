"""Fixtures shared by several test packages (built once per session)."""

import pytest

from tests.inference.helpers import build_tagger_artifact, build_tiny_model


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    """A random-weight Llama refining model saved in the ProX released-model format."""
    return build_tiny_model(tmp_path_factory.mktemp("models") / "tiny-prox")


@pytest.fixture(scope="session")
def tagger_model(tmp_path_factory):
    return build_tagger_artifact(tmp_path_factory.mktemp("models") / "tagger")
