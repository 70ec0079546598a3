"""Fixtures shared by several test packages (built once per session)."""

import os

import pytest

from tests.inference.helpers import build_tagger_artifact, build_tiny_model


@pytest.fixture(autouse=True)
def _isolated_prox_home(tmp_path_factory, monkeypatch):
    """A test never reads a developer's ``runs/``: an empty PROX_HOME unless the session set
    one (the Airflow tests' installation), and no registry or catalog override."""
    if not os.environ.get("PROX_HOME"):
        monkeypatch.setenv("PROX_HOME", str(tmp_path_factory.mktemp("prox-home")))
    for name in ("PROX_MODEL_REGISTRY", "PROX_CATALOG_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    """A random-weight Llama refining model saved in the ProX released-model format."""
    return build_tiny_model(tmp_path_factory.mktemp("models") / "tiny-prox")


@pytest.fixture(scope="session")
def tagger_model(tmp_path_factory):
    return build_tagger_artifact(tmp_path_factory.mktemp("models") / "tagger")
