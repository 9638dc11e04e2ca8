"""Schemathesis hooks for lantian: tus PATCH bodies are raw bytes (application/offset+octet-stream),
which schemathesis cannot generate by itself."""

from hypothesis import strategies as st

import schemathesis

schemathesis.openapi.media_type(
    "application/offset+octet-stream", st.binary(min_size=0, max_size=4096)
)
