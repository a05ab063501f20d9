"""Where the project's data lives, found from this file and never from the working directory."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KNOWLEDGE_DIR = Path(os.environ.get("TUTOR_KNOWLEDGE_DIR", ROOT / "knowledge"))
BUILD_DIR = Path(os.environ.get("TUTOR_BUILD_DIR", ROOT / "build"))
INDEX_DIR = BUILD_DIR / "index"
