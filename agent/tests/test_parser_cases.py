"""``parse_size`` against the test cases shared with the Rust and TypeScript implementations
(``tests/cases/parsers.json``), so the three cannot drift."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from headroom_agent._sizes import parse_size

CASES = json.loads((Path(__file__).resolve().parents[2] / "tests/cases/parsers.json").read_text())


@pytest.mark.parametrize(("text", "want"), CASES["size"])
def test_size_parses_as_the_shared_cases_say(text: str, want: int | None) -> None:
    if want is None:
        with pytest.raises(ValueError):
            parse_size(text)
    else:
        assert parse_size(text) == want
