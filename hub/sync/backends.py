"""Which engine blocks and scores candidate pairs ([matching] backend).

Kept apart from `hub.sync.links` so that choosing a backend imports neither DuckDB nor
PySpark: an installation without the linkage extra still reaches the one-line message
that says what to install."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hub.sync.extras import require_linkage

if TYPE_CHECKING:
    from hub.config import HubSettings
    from hub.sync.scoring import Scorer


def scorer_for(settings: HubSettings) -> Scorer | None:
    """Spark when the settings ask for it (imported only then: pyspark is optional);
    None means the engine's own DuckDB scorer."""
    if settings.matching.backend != "spark":
        return None
    require_linkage()  # Spark trains and clusters with the linkage extra's libraries
    from hub.sync.spark import SparkScorer

    return SparkScorer(settings.matching.spark)
