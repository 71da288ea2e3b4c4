from tests.access.conftest import hub  # noqa: F401  (the same app-and-clients fixture)
