"""kit.pagination.PageWriter: refuses what it cannot write exactly; trims the look-ahead row into a cursor."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from enum import Enum, IntEnum, StrEnum

import pytest
from pydantic import BaseModel, Field, computed_field

from shipyard.kit.pagination import PageWriter

pytestmark = pytest.mark.database_independent


class Item(BaseModel):
    id: str
    at: datetime


class Renamed(BaseModel):
    id: str = Field(serialization_alias="ID")


class Hidden(BaseModel):
    id: str
    secret: str = Field(exclude=True)


class Computed(BaseModel):
    id: str

    @computed_field  # type: ignore[prop-decorator]  # pydantic's documented use on a property
    @property
    def twice(self) -> str:
        return self.id * 2


class Colour(Enum):
    RED = (1, 2)


class Painted(BaseModel):
    id: str
    colour: Colour


class Size(StrEnum):
    SMALL = "small"


class Rank(IntEnum):
    FIRST = 1


class Part(BaseModel):
    name: str
    size: Size


class Assembly(BaseModel):
    id: str
    rank: Rank
    parts: list[Part]
    spare: Part | None


class Tree(BaseModel):
    id: str
    children: list[Tree]


@pytest.mark.parametrize(
    ("model", "named"),
    [(Renamed, "Renamed"), (Hidden, "Hidden"), (Computed, "Computed"), (Painted, "Colour"), (Tree, "Tree")],
)
def test_a_model_whose_output_differs_from_its_fields_is_refused_at_import(model: type[BaseModel], named: str) -> None:
    with pytest.raises(TypeError, match=named):
        PageWriter(model)


def test_the_look_ahead_row_becomes_the_cursor_and_leaves_the_page() -> None:
    at = datetime(2026, 1, 2, tzinfo=UTC)
    rows = [{"id": f"it_{n}", "at": at} for n in (3, 2, 1)]
    writer = PageWriter(Item)

    full = json.loads(writer.json(rows, 2))
    last = json.loads(writer.json(rows[:2], 2))

    assert full == {
        "data": [{"id": "it_3", "at": "2026-01-02T00:00:00Z"}, {"id": "it_2", "at": "2026-01-02T00:00:00Z"}],
        "next_cursor": "it_2",
    }
    assert last["next_cursor"] is None
    assert len(last["data"]) == 2
    response = writer.response(rows, 2)
    assert (response.status_code, response.media_type, response.body) == (200, "application/json", writer.json(rows, 2))


def test_nested_models_and_enums_are_written_from_plain_data_as_the_model_writes_them() -> None:
    plain = {"id": "as_1", "rank": 1, "parts": [{"name": "ü 😀", "size": "small"}], "spare": None}
    model = Assembly(id="as_1", rank=Rank.FIRST, parts=[Part(name="ü 😀", size=Size.SMALL)], spare=None)

    written = PageWriter(Assembly).json([plain], 1)

    assert written == b'{"data":[' + model.model_dump_json().encode() + b'],"next_cursor":null}'
