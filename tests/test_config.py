from pathlib import Path

import pytest

from hub.config import SettingsError, load_settings


def test_defaults_come_from_the_toml_file():
    settings = load_settings()  # var/hub.db, read against the project's folder
    assert settings.database.url.startswith("sqlite+aiosqlite:///")
    assert settings.database.url.endswith("/var/hub.db")
    assert Path(settings.database.url.removeprefix("sqlite+aiosqlite:///")).is_absolute()
    assert settings.server.port == 8000
    assert settings.population.regency == "33.14"


def test_environment_overrides_one_key(monkeypatch):
    monkeypatch.setenv("HUB_SERVER__PORT", "9123")
    monkeypatch.setenv("HUB_DATABASE__URL", "postgresql+asyncpg://u:p@127.0.0.1/hub")
    settings = load_settings()
    assert settings.server.port == 9123
    assert settings.database.url.startswith("postgresql+asyncpg://")
    assert settings.server.host == "127.0.0.1"  # the rest still comes from the file


@pytest.mark.parametrize(
    ("variable", "value", "names"),
    [
        ("HUB_SERVER__PORT", "eighty", "server.port"),
        ("HUB_SERVER__PORT", "70000", "server.port"),
        ("HUB_DATABASE__URL", "mysql://x", "database.url"),
        ("HUB_SERVER__MAX_PAGE_SIZE", "0", "server.max_page_size"),
    ],
)
def test_a_bad_value_names_the_key_and_the_variable(monkeypatch, variable, value, names):
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert names in message
    assert variable in message


def test_an_unknown_key_in_the_file_is_refused(monkeypatch, tmp_path):
    config = tmp_path / "hub.toml"
    config.write_text('[server]\nprot = 8000\n')
    monkeypatch.setenv("HUB_CONFIG", str(config))
    with pytest.raises(SettingsError, match=r"server\.prot"):
        load_settings()


def test_missing_config_file_named_by_env_is_an_error(monkeypatch, tmp_path):
    monkeypatch.setenv("HUB_CONFIG", str(tmp_path / "nope.toml"))
    with pytest.raises(SettingsError, match=r"nope\.toml"):
        load_settings()


def test_paths_are_read_against_the_configuration_not_the_working_folder(
        tmp_path, monkeypatch):
    """From another folder the hub reads the project's settings and database, rather
    than creating an empty `var/hub.db` wherever it was run."""
    from hub.config import PROJECT_ROOT, config_path, load_settings

    monkeypatch.delenv("HUB_CONFIG", raising=False)
    monkeypatch.delenv("HUB_DATABASE__URL", raising=False)
    monkeypatch.chdir(tmp_path)
    assert config_path() == PROJECT_ROOT / "config" / "hub.toml"
    assert load_settings().database.url == \
        f"sqlite+aiosqlite:///{PROJECT_ROOT / 'var' / 'hub.db'}"
    assert load_settings().population.out_dir == PROJECT_ROOT / "var" / "population"
    own = tmp_path / "district" / "config"
    own.mkdir(parents=True)
    (own / "hub.toml").write_text('[database]\nurl = "sqlite+aiosqlite:///data/hub.db"\n')
    monkeypatch.setenv("HUB_CONFIG", str(own / "hub.toml"))
    assert load_settings().database.url == \
        f"sqlite+aiosqlite:///{tmp_path / 'district' / 'data' / 'hub.db'}"
    monkeypatch.setenv("HUB_DATABASE__URL", "postgresql+asyncpg://hub@127.0.0.1/hub")
    assert load_settings().database.url == "postgresql+asyncpg://hub@127.0.0.1/hub"


def test_partitions_by_province_need_postgresql(monkeypatch):
    monkeypatch.setenv("HUB_DATABASE__PARTITIONS", "province")
    with pytest.raises(SettingsError, match="needs PostgreSQL"):
        load_settings()
    monkeypatch.setenv("HUB_DATABASE__URL", "postgresql+asyncpg://hub@127.0.0.1/hub")
    assert load_settings().database.partitions == "province"
    monkeypatch.setenv("HUB_DATABASE__PARTITIONS", "regency")
    with pytest.raises(SettingsError, match=r"database\.partitions"):
        load_settings()
