"""Logging for every process of a node: one JSON object per line on stderr (or plain text for
people), with the request's id where there is one. Records carry only what the code puts
in them: never a header, a body, a token, a key or a national id."""

import json
import logging
import logging.config
from datetime import UTC, datetime
from typing import Any

EXTRA_FIELDS = ("request_id", "method", "route", "path", "status", "ms")


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {name: getattr(record, name) for name in EXTRA_FIELDS if hasattr(record, name)}


class JsonFormatter(logging.Formatter):
    """A record as one line of JSON: time, level, logger, message and the request fields."""

    def format(self, record: logging.LogRecord) -> str:
        event: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "pid": record.process,
            "message": record.getMessage(),
            **_extras(record),
        }
        if record.exc_info:
            event["error"] = self.formatException(record.exc_info)
        return json.dumps(event, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """A record for people: time, level, logger and message, then key=value fields."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        fields = " ".join(f"{k}={v}" for k, v in _extras(record).items())
        return super().format(record) + (f" [{fields}]" if fields else "")


def log_config(log_format: str) -> dict[str, Any]:
    """A logging.config dictionary: every logger (uvicorn's too) to stderr in `log_format`;
    uvicorn's access lines are replaced by the API's own (api/observe.py)."""
    formatter = JsonFormatter if log_format == "json" else TextFormatter
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"chosen": {"()": f"{formatter.__module__}.{formatter.__qualname__}"}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "chosen",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"handlers": ["stderr"], "level": "INFO"},
        "loggers": {
            "uvicorn": {"handlers": [], "propagate": True},
            "uvicorn.error": {"handlers": [], "propagate": True},
            "uvicorn.access": {"handlers": [], "propagate": False, "level": "WARNING"},
        },
    }


def configure_logging(log_format: str) -> None:
    logging.config.dictConfig(log_config(log_format))
