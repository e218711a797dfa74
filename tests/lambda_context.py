"""The Lambda context that tests and benches hand a handler (the parts of LambdaContext Powertools and we read)."""

from __future__ import annotations


class Context:
    """A test function's context, with always 10 s left."""

    function_name = "test-function"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:test-function"
    aws_request_id = "test-request"

    def get_remaining_time_in_millis(self) -> int:
        return 10_000
