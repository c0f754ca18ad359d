"""The REST API: routers, request/response schemas, and the problem+json rendering of errors."""
