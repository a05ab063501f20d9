"""Every setting the tutor reads from the environment, in one place, with its default.

Paths (``TUTOR_KNOWLEDGE_DIR``, ``TUTOR_BUILD_DIR``, ``TUTOR_JUDGE_DIR``, ``TUTOR_STANCE_DIR``,
``TUTOR_ARGKP_DIR``),
the stores (``TUTOR_ENDPOINTS`` and the ``TUTOR_DB_*``/``TUTOR_REDIS_*`` that
``endpoints.postgres.yml`` reads), the servers (``RASA_AUTH_TOKEN``, ``TUTOR_CORS``), Slack
(``SLACK_*``, read by ``credentials.yml``), practice scoring's arithmetic (``TUTOR_SCORING_PRECISION``),
the report (``TUTOR_REPORT_SALT``), and the variables that keep every library offline and quiet.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KNOWLEDGE_DIR = Path(os.environ.get("TUTOR_KNOWLEDGE_DIR", ROOT / "knowledge"))
BUILD_DIR = Path(os.environ.get("TUTOR_BUILD_DIR", ROOT / "build"))
JUDGE_DIR = Path(os.environ.get("TUTOR_JUDGE_DIR", ROOT / "models" / "key-point-matcher"))
ARGKP_DIR = Path(os.environ.get("TUTOR_ARGKP_DIR", ROOT.parent / "shared" / "data" / "argkp-2021"))
INDEX_DIR = BUILD_DIR / "index"
STANCE_DIR = Path(os.environ.get("TUTOR_STANCE_DIR", ROOT / "models" / "stance-reader"))
"""The stance reader ``config.yml`` runs, shipped (``make train-stance``; docs/nlu-pipelines.md, round 15c)."""
JUDGED_PASSAGES = ROOT / "models" / "judged-passages" / "support.json"
"""The judge's reading of every passage for every claim, shipped (``python -m bot judge-passages``)."""
EVAL_DIR = ROOT / "eval"

#: No model hub, ever: the weights ship in packages and in models/.
OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
#: Libraries' own chatter off; set unless the caller chose otherwise.
QUIET = {
    "TOKENIZERS_PARALLELISM": "false",
    "TRANSFORMERS_VERBOSITY": "error",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "TF_CPP_MIN_LOG_LEVEL": "3",
    "PYTHONWARNINGS": "ignore",
    "RASA_TELEMETRY_ENABLED": "false",
    "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
}

#: credentials.yml names these; Rasa refuses to start if one is unset. Empty means Slack is off.
SLACK_DEFAULTS = {
    "SLACK_BOT_TOKEN": "",
    "SLACK_SIGNING_SECRET": "",
    "SLACK_API_BASE": "https://slack.com/api",
    "SLACK_BOT_USER_ID": "",
}

#: What ``endpoints.postgres.yml`` reads, with the values that fit this machine's services.
SCALE_DEFAULTS = {
    "TUTOR_DB_HOST": "127.0.0.1",
    "TUTOR_DB_PORT": "5432",
    "TUTOR_DB_NAME": "tutor",
    "TUTOR_DB_USER": "postgres",
    "TUTOR_DB_PASSWORD": "",
    "TUTOR_REDIS_HOST": "127.0.0.1",
    "TUTOR_REDIS_PORT": "6379",
    "TUTOR_REDIS_DB": "0",
    "TUTOR_REDIS_PASSWORD": "",
}

REPORT_SALT_ENV = "TUTOR_REPORT_SALT"
SCORING_PRECISION_ENV = "TUTOR_SCORING_PRECISION"


def offline() -> None:
    """Forbid any model hub access in this process, and quieten the libraries."""
    os.environ.update(OFFLINE)
    for name, value in QUIET.items():
        os.environ.setdefault(name, value)


def endpoints_choice(env: Mapping[str, str] | None = None) -> str:
    """``TUTOR_ENDPOINTS``, or "" for the SQLite endpoints file."""
    return (os.environ if env is None else env).get("TUTOR_ENDPOINTS") or ""


def auth_token() -> str | None:
    """``RASA_AUTH_TOKEN``: the Rasa HTTP API's token, if one is set."""
    return os.environ.get("RASA_AUTH_TOKEN") or None


def cors() -> str:
    """``TUTOR_CORS``: the origins allowed to call the Rasa server (all by default)."""
    return os.environ.get("TUTOR_CORS", "*")


def scoring_precision() -> str:
    """``TUTOR_SCORING_PRECISION``: how practice scoring computes, the judge and the answer's embeddings
    (``auto``, ``bfloat16`` or ``float32``)."""
    return os.environ.get(SCORING_PRECISION_ENV, "auto").strip().lower() or "auto"


def report_salt() -> str | None:
    return os.environ.get(REPORT_SALT_ENV) or None
