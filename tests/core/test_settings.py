"""hfselect_core.settings: every environment variable read in one place, one boolean parser, defaults kept."""

from __future__ import annotations

from pathlib import Path

import pytest

from hfselect_core import hub, limits, settings, studio
from hfselect_core.embedding import default_precision, remote_code_allowed
from hfselect_core.settings import Settings, env_flag, get_settings


@pytest.mark.parametrize("value", ["1", "true", "TRUE", " yes ", "On"])
def test_one_boolean_parser_true(value):
    assert env_flag(value)


@pytest.mark.parametrize("value", [None, "", "0", "false", "no", "off", "2", "enabled"])
def test_one_boolean_parser_false(value):
    assert not env_flag(value)


def test_defaults_when_nothing_is_set():
    s = Settings.from_env({})
    assert s == Settings()
    assert (s.max_examples, s.max_esms, s.hub_workers, s.listing_ttl_s) == (10_000, 5_000, 8, 60.0)
    assert not s.hub_offline and not s.trust_remote_code and s.embedding_precision is None
    assert s.data_dir == Path("/data") and s.assets_dir is None


def test_bad_values_fall_back_and_ranges_are_kept():
    s = Settings.from_env(
        {
            settings.MAX_EXAMPLES_ENV: "-3",
            settings.MAX_ESMS_ENV: "many",
            settings.HUB_WORKERS_ENV: "500",
            settings.LISTING_TTL_ENV: "-1",
            settings.EMBEDDING_CACHE_MB_ENV: "nan",
            settings.PRECISION_ENV: "fp64",
            settings.RESULT_CACHE_MAX_ENTRIES_ENV: "0",
        }
    )
    assert s.max_examples == 10_000 and s.max_esms == 5_000
    assert s.hub_workers == 64 and s.listing_ttl_s == 0.0 and s.embedding_cache_mb == 256.0
    assert s.embedding_precision is None and s.result_cache_max_entries == 1


def test_every_variable_the_core_reads_is_a_settings_field():
    names = set(settings.ENV_NAMES)
    assert {"HF_HUB_OFFLINE", "HFSELECT_MAX_EXAMPLES", "HFSELECT_STUDIO_MAX_BATCH", "GRADIO_TEMP_DIR"} <= names
    # The old homes of the names still export them.
    assert limits.MAX_EXAMPLES_ENV in names and studio.MAX_BATCH_ENV in names and hub.WORKERS_ENV in names


def test_the_environment_is_read_through_get_settings(monkeypatch):
    monkeypatch.setenv("HFSELECT_MAX_EXAMPLES", "123")
    monkeypatch.setenv("HFSELECT_STUDIO_MAX_BATCH", "7")
    monkeypatch.setenv("HFSELECT_TRUST_REMOTE_CODE", "on")
    monkeypatch.setenv("HFSELECT_EMBEDDING_PRECISION", "BF16")
    assert limits.max_examples() == 123
    assert studio.studio_limits().max_batch_size == 7
    assert remote_code_allowed() and default_precision() == "bf16"
    # A change takes effect at once (the memo is keyed on the variables' values).
    monkeypatch.setenv("HFSELECT_MAX_EXAMPLES", "456")
    assert limits.max_examples() == 456 and get_settings().max_examples == 456
    monkeypatch.delenv("HFSELECT_MAX_EXAMPLES")
    assert limits.max_examples() == 10_000


def test_offline_is_interpreted_in_one_place(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "yes")
    assert hub.offline_forced() and not hub.hub_reachable()
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    assert not hub.offline_forced()
