"""A miner's tags: one rule for config.yaml, the browser (PATCH /api/miners/<ip>) and rule targets."""

from __future__ import annotations

import re

TAG_RE = re.compile(r"[A-Za-z0-9 _.-]{1,32}")
MAX_TAGS = 16
TAG_RULE = "1-32 characters of letters, digits, space, _ . -"
