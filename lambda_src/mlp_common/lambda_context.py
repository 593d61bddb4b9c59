"""The attributes of the Lambda context object the functions use (typing only; the runtime supplies the object)."""

from __future__ import annotations

from typing import Protocol


class LambdaContext(Protocol):
    function_name: str
    function_version: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    aws_request_id: str

    def get_remaining_time_in_millis(self) -> int: ...
