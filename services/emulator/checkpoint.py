"""The replay checkpoint: the next event index to send; every index below it is acknowledged.

Written atomically (temp file + rename) only after all three topics acknowledged a batch,
so a crash at any moment resumes at or before the first unacknowledged event.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

import orjson

from services.emulator.errors import EmulatorError
from services.settings import Settings


@dataclass(frozen=True)
class Checkpoint:
    next_index: int
    last_index: int
    database: str
    user_id: str
    target: str
    complete: bool = False


def default_path(settings: Settings, target: str) -> Path:
    return settings.state_dir / "emulator" / f"replay-{settings.pipeline_user_id}-{target}.json"


def load(path: Path) -> Checkpoint | None:
    if not path.exists():
        return None
    try:
        return Checkpoint(**orjson.loads(path.read_bytes()))
    except (orjson.JSONDecodeError, TypeError) as exc:
        raise EmulatorError(
            f"checkpoint {path} is unreadable ({exc}): delete it, or pass --restart"
        ) from None


def save(path: Path, checkpoint: Checkpoint) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        f.write(orjson.dumps(asdict(checkpoint)))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
