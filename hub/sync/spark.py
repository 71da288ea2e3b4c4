"""Scoring candidate pairs on Apache Spark, through Splink's Spark backend.

A district's registry is scored in one DuckDB process. A national one is not: the
blocked pairs of hundreds of millions of persons are what outgrows a machine, so this
is the part that moves to Spark. What does not grow with the registry stays put:
the model is trained by `LinkageEngine.train` on a sample (600,000 records at most),
and the scored pairs come back as Parquet that the engine reads for evidence and
clustering.

The same model gives the same links on both backends. Two things make that so:
- the comparisons are written once (`hub.sync.scoring.comparisons`) and rendered in
  each backend's dialect, and the trained parameters are carried across level by level
  (`for_dialect`);
- Jaro-Winkler is the hub's own function here, computed by rapidfuzz, which agrees
  with DuckDB's to within a unit in the last place; Spark's built-in and Splink's jar
  are other variants.

pyspark is an optional dependency (the `spark` extra) with a Java runtime; nothing
imports this module unless `[matching] backend = "spark"`.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import uuid
from functools import lru_cache
from pathlib import Path
from typing import Any

from hub.config import SparkSettings
from hub.sync.scoring import SPARK

try:
    from pyspark.sql import SparkSession
    from pyspark.sql.functions import pandas_udf
    from splink import Linker, SparkAPI
    from splink.backends.spark import similarity_jar_location

    from hub.sync.spark_functions import jaro_winkler  # numpy, pandas, rapidfuzz
except ImportError as missing:  # pragma: no cover - depends on the installation
    raise ImportError(
        "the Spark backend needs pyspark and a Java runtime: "
        "pip install 'slrt-hub[spark]' and apt-get install openjdk-17-jre-headless "
        f"({missing})") from missing


@lru_cache(maxsize=1)
def session(options: SparkSettings) -> SparkSession:
    """One Spark session per process (Spark allows no more), bound to the loopback
    interface, with the hub's functions registered for SQL."""
    work = Path(options.work_dir or tempfile.gettempdir()) / "slrt-hub-spark"
    work.mkdir(parents=True, exist_ok=True)
    # Python workers run this interpreter, so they find rapidfuzz where the driver does
    # (the session option alone does not reach workers of local mode).
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    # Spark binds where the host name resolves; this one resolves to a public address.
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    spark = (
        SparkSession.builder.master(options.master).appName("slrt-hub")
        .config("spark.driver.memory", options.driver_memory)
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.ui.enabled", "false")
        .config("spark.local.dir", str(work / "local"))
        .config("spark.sql.shuffle.partitions", str(options.shuffle_partitions))
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.jars", similarity_jar_location())  # SparkAPI registers its UDFs
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    _started.append(spark)
    spark.udf.register(SPARK.similarity,
                       pandas_udf(jaro_winkler, "double"))  # type: ignore[call-overload]
    return spark


def stop() -> None:
    """Stop the process's Spark session (its JVM), if one was started."""
    while _started:
        _started.pop().stop()
    session.cache_clear()


_started: list[SparkSession] = []


def for_dialect(model: dict[str, Any], designed: dict[str, Any]) -> dict[str, Any]:
    """`model`'s trained parameters on `designed`, the same design rendered in another
    dialect: comparisons matched by name, levels by position (a design is the same
    comparisons with the same levels, so positions agree; `hub.sync.scoring.design`
    checks a saved model against the current one)."""
    trained = {c["output_column_name"]: c for c in model["comparisons"]}
    comparisons = []
    for comparison in designed["comparisons"]:
        source = trained[comparison["output_column_name"]]["comparison_levels"]
        target = comparison["comparison_levels"]
        if len(source) != len(target):
            raise ValueError(f"model and design differ on {comparison['output_column_name']}")
        levels = []
        for mine, theirs in zip(target, source, strict=True):
            level = dict(mine)
            for key in ("m_probability", "u_probability", "tf_adjustment_column",
                        "tf_adjustment_weight", "tf_minimum_u_value"):
                if key in theirs:
                    level[key] = theirs[key]
            levels.append(level)
        comparisons.append({**comparison, "comparison_levels": levels})
    return {**designed, "comparisons": comparisons,
            "probability_two_random_records_match":
                model["probability_two_random_records_match"]}


class SparkScorer:
    """Blocks and scores on Spark the tables `LinkageEngine` exported to Parquet."""

    def __init__(self, options: SparkSettings) -> None:
        self.options = options
        self._work = Path(tempfile.mkdtemp(prefix="slrt-hub-scored-",
                                           dir=options.work_dir))
        self._runs = 0
        self._prefix = f"hub{uuid.uuid4().hex[:8]}"  # views live as long as the session
        self._views: list[str] = []

    def score(self, model: dict[str, Any], designed: dict[str, Any], left: Path,
              right: Path | None, frequencies: Path, *, threshold: float,
              within: bool) -> list[Path]:
        """Directories of Parquet files, one per kind of prediction asked for."""
        spark = session(self.options)
        # Splink writes its intermediate tables as Parquet checkpoints: here, so that
        # `close` takes them away with the scored pairs.
        spark.sparkContext.setCheckpointDir(str(self._work / "checkpoints"))
        api = SparkAPI(spark_session=spark)
        self._runs += 1
        run = f"{self._prefix}_{self._runs}"

        def register(path: Path, name: str) -> Any:
            self._views.append(name)
            return api.register(spark.read.parquet(str(path)), table_name=name)

        left_frame = register(left, f"{run}_left")
        right_frame = register(right, f"{run}_right") if right is not None else None
        linker = Linker(left_frame, for_dialect(model, designed), log_level=None)
        linker.table_management.register_term_frequency_lookup(
            register(frequencies, f"{run}_tf"), "name_norm")
        frames: list[Any] = []
        if within:
            frames.append(linker.inference.predict_within(
                left_frame, threshold_match_probability=threshold, warning_mode="never"))
        if right_frame is not None:
            frames.append(linker.inference.predict_between(
                left_frame, right_frame, threshold_match_probability=threshold,
                warning_mode="never"))
        out = []
        for i, frame in enumerate(frames):
            directory = self._work / f"scored_{self._runs}_{i}"
            frame.as_spark_dataframe().write.mode("overwrite").parquet(str(directory))
            out.append(directory)
        return out

    def export_directory(self) -> Path:
        """Where the engine writes the tables Spark reads."""
        return self._work

    def close(self) -> None:
        if self._views:
            catalog = session(self.options).catalog
            for name in self._views:
                catalog.dropTempView(name)
        shutil.rmtree(self._work, ignore_errors=True)
