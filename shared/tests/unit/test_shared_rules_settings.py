"""A service's rules profile is the one it names, with the numbers its own settings replace
when set, and a name no profile has stops the service at start."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import pytest
from pydantic import ValidationError
from pydantic_settings import SettingsConfigDict

from lre_shared.rules import FR_LRE
from lre_shared.settings import RulesProfileName, RulesSettings, rules_profile_setting

REQUIRED = {"amqp_url": "amqp://x", "database_url": "postgresql://x/db", "http_port": 1}


class DeskSettings(RulesSettings):
    model_config = SettingsConfigDict(env_prefix="LRE_RULES_TEST_", frozen=True)
    rule_overrides: ClassVar[Mapping[str, str]] = {"code_max_tries": "max_tries"}

    rules_profile: RulesProfileName = rules_profile_setting("the code lockout.")
    max_tries: int | None = None


def settings(**values: Any) -> DeskSettings:
    return DeskSettings.model_validate({**REQUIRED, **values})


def test_the_profile_named_is_the_rules_when_nothing_replaces_its_numbers() -> None:
    assert settings().rules() == FR_LRE


def test_a_setting_that_is_set_replaces_its_number_of_the_profile() -> None:
    rules = settings(max_tries=3).rules()

    assert rules.code_max_tries == 3
    assert rules.acceptance_days == FR_LRE.acceptance_days


def test_an_unknown_profile_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(ValidationError, match=r"unknown rules profile 'xx'.*fr_lre"):
        settings(rules_profile="xx")


def test_the_setting_says_what_the_profile_governs_in_the_service() -> None:
    field = DeskSettings.model_fields["rules_profile"]

    assert field.default == "fr_lre"
    assert field.description == "The rules profile (lre_shared.rules.PROFILES): the code lockout."


def test_an_override_of_no_number_of_the_profile_is_refused_when_the_class_is_written() -> None:
    with pytest.raises(TypeError, match="code_tries"):

        class Wrong(RulesSettings):
            rule_overrides: ClassVar[Mapping[str, str]] = {"code_tries": "max_tries"}
            max_tries: int | None = None
