"""Update a DataTable in place (Dolphie's rule): stable row keys, only changed cells, never clear()."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from rich.text import Text
from textual.coordinate import Coordinate
from textual.widgets import DataTable

Cell = str | Text
Row = Sequence[Cell]


def same_cell(old: object, new: Cell) -> bool:
    """Whether showing ``new`` instead of ``old`` would change nothing on screen."""
    if isinstance(new, Text) and isinstance(old, Text):
        return old.plain == new.plain and old.style == new.style and old.spans == new.spans
    return type(old) is type(new) and old == new


def _width(value: Cell) -> int:
    return value.cell_len if isinstance(value, Text) else len(value)


def upsert_row(table: DataTable[Cell], key: str, row: Row) -> bool:
    """Add the row, or update the cells that differ; True when the row is new."""
    if key not in table.rows:
        table.add_row(*row, key=key)
        return True
    update_cells(table, key, row)
    return False


def update_cells(table: DataTable[Cell], key: str, row: Row) -> None:
    """Write the cells of the row ``key`` that differ from ``row``."""
    for (column_key, column), value in zip(table.columns.items(), row, strict=True):
        if not same_cell(table.get_cell(key, column_key), value):
            # Re-measuring a column looks at every row: only when the new value does not fit.
            table.update_cell(key, column_key, value, update_width=_width(value) > column.content_width)


def remove_row(table: DataTable[Cell], key: str) -> bool:
    if key in table.rows:
        table.remove_row(key)
        return True
    return False


def sync_rows(table: DataTable[Cell], rows: Mapping[str, Row]) -> bool:
    """Make the table hold exactly ``rows`` (in their order for new rows); True when rows were added."""
    for key in [key.value for key in table.rows if key.value not in rows]:
        if key is not None:
            table.remove_row(key)
    added = False
    for key, row in rows.items():
        added = upsert_row(table, key, row) or added
    return added


def cursor_key(table: DataTable[Cell]) -> str | None:
    """The key of the row under the cursor, or None in an empty table."""
    if not table.row_count:
        return None
    row = min(table.cursor_row, table.row_count - 1)
    return table.coordinate_to_cell_key(Coordinate(row, 0)).row_key.value


def fitted_widths(
    widths: Sequence[int], room: int, give_way: Sequence[tuple[int, int]], *, padding: int, min_shown: int = 4
) -> list[int]:
    """``widths`` narrowed column by column, in the order of ``give_way`` (column index, narrowest
    width), until the row, ``padding`` cells per column included, fits ``room``; a column that would
    keep only a sliver (narrower than ``min_shown``, which shows just "…") gives way entirely.
    A ``room`` of 0 (not laid out yet) leaves them as they are."""
    fitted = list(widths)
    over = sum(fitted) + padding * len(fitted) - room if room > 0 else 0
    for at, narrowest in give_way:
        if over <= 0:
            break
        given = max(0, min(over, fitted[at] - narrowest))
        if fitted[at] - given < min_shown:
            given = fitted[at]
        fitted[at] -= given
        over -= given
    return fitted


def set_widths(table: DataTable[Cell], widths: Sequence[int]) -> None:
    """Fix the columns at ``widths`` (cells cut with … where they are wider) and draw again."""
    columns = table.ordered_columns
    if [column.width for column in columns] == list(widths) and not columns[0].auto_width:
        return
    for column, width in zip(columns, widths, strict=True):
        column.auto_width = False
        column.width = column.content_width = width
    redraw(table)


def redraw(table: DataTable[Cell]) -> None:
    """Forget every cached line and measure again (Textual 8.2.8's DataTable; the pin holds it)."""
    table._clear_caches()
    table._require_update_dimensions = True
    table.refresh()
