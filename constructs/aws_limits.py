"""Facts about AWS services that the constructs and their settings check: allowed values, limits, regions.

Each value is AWS's own rule, with where it comes from; the settings models (one per construct module) and the
constructs' own validation read them from here, so a rule is written once.
"""

from typing import Literal, get_args

# Commercial AWS regions (where SageMaker, Kinesis and the rest of the stack are all offered).
AWS_REGIONS = frozenset(
    {
        "us-east-1", "us-east-2", "us-west-1", "us-west-2", "ca-central-1", "ca-west-1", "sa-east-1", "mx-central-1",
        "eu-west-1", "eu-west-2", "eu-west-3", "eu-central-1", "eu-central-2", "eu-north-1", "eu-south-1",
        "eu-south-2", "af-south-1", "me-south-1", "me-central-1", "il-central-1", "ap-east-1", "ap-south-1",
        "ap-south-2", "ap-southeast-1", "ap-southeast-2", "ap-southeast-3", "ap-southeast-4", "ap-southeast-5",
        "ap-southeast-7", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3",
    }
)  # fmt: skip

# The values CloudWatch Logs accepts for retentionInDays (0 = never expire is deliberately left out).
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
                      3288, 3653)  # fmt: skip

# API Gateway's cache cluster sizes (GB) and usage-plan quota periods.
CacheSize = Literal["0.5", "1.6", "6.1", "13.5", "28.4", "58.2", "118", "237"]
QuotaPeriod = Literal["DAY", "WEEK", "MONTH"]
CACHE_SIZES: tuple[str, ...] = get_args(CacheSize)
QUOTA_PERIODS: tuple[str, ...] = get_args(QuotaPeriod)

# Upper bound for day counts where AWS documents none (S3 lifecycle, version expiry): 100 years. The API fields are
# 32-bit integers and the expiry date has to stay a real date, so an unbounded number is never what a reviewer meant.
MAX_DAYS = 36_500

# AWS tag values: at most 256 Unicode letters, digits, white space and _ . : / = + - @ (Tagging API reference).
TAG_VALUE_MAX_LENGTH = 256
TAG_VALUE_SYMBOLS = "_.:/=+-@"
