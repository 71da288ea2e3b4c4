from datetime import UTC, datetime, timedelta

import pytest

from hub.domain.servicestats import percentile, timing

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def test_percentile_interpolates_between_ranks() -> None:
    assert percentile([1.0], 0.9) == 1.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    assert percentile(list(map(float, range(1, 11))), 0.9) == pytest.approx(9.1)
    with pytest.raises(ValueError, match="no values"):
        percentile([], 0.5)


def test_timing_against_due_times() -> None:
    spans = [(T0, T0 + timedelta(hours=h), T0 + timedelta(hours=24)) for h in (1, 2, 30, 50)]
    result = timing(spans)
    assert result.measured == 4
    assert result.median_hours == 16.0
    assert result.within_sla == 0.5
    assert timing([]).median_hours is None
    undue = timing([(T0, T0 + timedelta(hours=3), None)])
    assert undue.within_sla is None
    assert undue.p90_hours == 3.0
