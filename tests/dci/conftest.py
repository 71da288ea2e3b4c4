# The access tests' app-and-clients fixture, and the sync tests' simulated district with
# a fresh database to reconcile it into (for DCI end to end on a registry that changes).
from tests.access.conftest import hub  # noqa: F401
from tests.sync.conftest import agencies, hub_engine, hub_settings, sync_population  # noqa: F401
