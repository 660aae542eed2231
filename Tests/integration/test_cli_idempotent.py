"""`spool publish --idempotent` end to end: entries tagged with PRODUCER/SEQ (Spool's idempotent
producers)."""

from __future__ import annotations

import pytest

from cli import spool


@pytest.mark.spool_only
def test_publish_idempotent_tags_entries(server, key) -> None:
    stream = key("idem").decode()
    run = spool("publish", stream, "--stdin", "--idempotent", "--producer-id", "cli-test", "--json", server=server,
                stdin="a\nb\nc\n")
    assert run.json()["published"] == 3
    assert server.client().xlen(stream) == 3
    single = spool("publish", stream, "k", "v", "--idempotent", "--json", server=server).json()
    assert single["stream"] == stream
    assert server.client().xlen(stream) == 4
