"""App JSON (the REST API's and `examples/*.json` shape) to protobuf `App`.

The proto mirrors the JSON one to one except for keywords, which are enums
(`"unique"` -> `STRATEGY_TYPE_UNIQUE`), and the JSON's lists of string maps,
which are `StringMap` messages (and `DriverOpt`, a string or a map).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor

from .v1 import app_pb2 as pb


def _enum(desc: EnumDescriptor, value: Any) -> Any:
    if not isinstance(value, str):
        return value
    upper = value.upper()
    for v in desc.values:
        if v.name == value or v.name.endswith("_" + upper):
            return v.name
    return value  # let the parser report it


def _field(field: FieldDescriptor, value: Any) -> Any:
    if field.enum_type is not None:
        return _enum(field.enum_type, value)
    msg = field.message_type
    if msg is None or msg.GetOptions().map_entry:
        return value
    if msg.full_name == "hydrogen.v1.StringMap" and isinstance(value, Mapping) and "entries" not in value:
        return {"entries": dict(value)}
    if msg.full_name == "hydrogen.v1.DriverOpt":
        if isinstance(value, str):
            return {"text": value}
        if isinstance(value, Mapping) and not ({"text", "map"} & value.keys()):
            return {"map": {"entries": dict(value)}}
    return _message(msg, value)


def _message(desc: Descriptor, obj: Any) -> Any:
    if not isinstance(obj, Mapping):
        return obj
    out: dict[str, Any] = {}
    for key, value in obj.items():
        field = desc.fields_by_name.get(key) or desc.fields_by_camelcase_name.get(key)
        if field is None or value is None:
            out[key] = value
        elif isinstance(value, list) and field.is_repeated:
            out[key] = [_field(field, v) for v in value]
        else:
            out[key] = _field(field, value)
    return out


def app_from_json(app: Mapping[str, Any]) -> pb.App:
    """One app JSON object as a protobuf `App` (ValueError on unknown fields)."""
    try:
        return json_format.ParseDict(_message(pb.App.DESCRIPTOR, app), pb.App())
    except json_format.ParseError as err:
        raise ValueError(str(err)) from None


def apps_from_file(path: str | Path) -> list[pb.App]:
    """The apps of a JSON file holding one app object or an array of them."""
    data = json.loads(Path(path).read_text())
    return [app_from_json(a) for a in (data if isinstance(data, list) else [data])]
