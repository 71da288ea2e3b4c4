import pytest

from tests.schema.helpers import make_client


@pytest.fixture
async def client(settings_for, loaded_engine):
    graphql = await make_client(settings_for, loaded_engine)
    yield graphql
    await graphql.aclose()
