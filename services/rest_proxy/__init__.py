"""A Confluent-compatible Kafka REST proxy (v2 subset) and the legacy `/pin/` event API.

Run it with `python -m services.rest_proxy`: one process serves the v2 API on the port of
REST_PROXY_URL (8082) and the legacy API on the port of LEGACY_API_URL (8000).
"""
