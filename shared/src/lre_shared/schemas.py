"""JSON Schemas of every message contract, as committed under docs/contracts/.

python -m lre_shared.schemas docs/contracts
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from lre_shared.contracts import ALL_MESSAGES, Message


def schema_of(message_type: type[Message]) -> dict[str, Any]:
    schema = message_type.model_json_schema(mode="serialization")
    schema["x-exchange"] = message_type.exchange
    schema["x-routing-key"] = message_type.routing_key
    return schema


def render(message_type: type[Message]) -> str:
    return json.dumps(schema_of(message_type), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def file_name(message_type: type[Message]) -> str:
    return f"{message_type.routing_key}.schema.json"


def write_all(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for message_type in ALL_MESSAGES:
        path = directory / file_name(message_type)
        path.write_text(render(message_type))
        written.append(path)
    return written


if __name__ == "__main__":
    for path in write_all(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/contracts")):
        print(path)
