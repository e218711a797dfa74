"""What every answer carries, the functions' and API Gateway's own alike: the problem media type, the problem type
base URI and the security headers (standard library only, so CDK synthesis and the authorizer import it cheaply)."""

PROBLEM_TYPE_BASE = "https://docs.switchboard.example/problems/"
PROBLEM_CONTENT_TYPE = "application/problem+json"
SECURITY_HEADERS: dict[str, str] = {
    "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
