"""The base of every construct's settings model, and the field types several of them share.

Each construct module owns one settings model for its knobs (ARCHITECTURE §1): pydantic v2, frozen, unknown keys
refused, NaN and infinity refused, a comment per field. The environment configuration (stacks/config.py) embeds those
models unchanged, so cdktf.json is validated by the same rules a construct built directly in a test is.
"""

import unicodedata
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from constructs.aws_limits import AWS_REGIONS, LOG_RETENTION_DAYS, TAG_VALUE_MAX_LENGTH, TAG_VALUE_SYMBOLS


class Settings(BaseModel):
    # Unknown keys are refused (a typo is an error, not a silent default); NaN and infinity are never a setting.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def check_region(value: str) -> str:
    if value not in AWS_REGIONS:
        raise ValueError(f"'{value}' is not a supported AWS region; allowed: {', '.join(sorted(AWS_REGIONS))}")
    return value


def check_tag_value(value: str) -> str:
    if len(value) > TAG_VALUE_MAX_LENGTH:
        raise ValueError(f"a tag value has at most {TAG_VALUE_MAX_LENGTH} characters")
    bad = sorted({c for c in value if not (unicodedata.category(c)[0] in "LNZ" or c in TAG_VALUE_SYMBOLS)})
    if bad:
        raise ValueError(
            f"characters AWS refuses in a tag value: {bad}; allowed: letters, digits, spaces and {TAG_VALUE_SYMBOLS}"
        )
    return value


def check_log_retention(value: int) -> int:
    if value not in LOG_RETENTION_DAYS:
        raise ValueError(f"{value} is not a CloudWatch Logs retention; allowed: {list(LOG_RETENTION_DAYS)}")
    return value


Region = Annotated[str, AfterValidator(check_region)]
AccountId = Annotated[str, Field(pattern=r"^[0-9]{12}$", description="12-digit AWS account id")]  # ASCII digits only
TagValue = Annotated[str, Field(min_length=1), AfterValidator(check_tag_value)]
LogRetentionDays = Annotated[int, AfterValidator(check_log_retention)]
