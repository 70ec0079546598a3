"""Release: an atomic ``latest`` pointer to a gated snapshot, recorded in the catalog."""

from prox_tasks.release.pointer import latest_uri, read_latest, release_record_uri
from prox_tasks.release.release import (
    GATE_SUITE,
    ReleaseRefused,
    check_releasable,
    release_snapshot,
)

__all__ = ["GATE_SUITE", "ReleaseRefused", "check_releasable", "latest_uri", "read_latest",
           "release_record_uri", "release_snapshot"]
