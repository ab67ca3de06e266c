"""Controller logs (``l``): what source-, kustomize- and helm-controller logged about one object,
streamed, with follow (``f``) and a bounded buffer. Lines and notices (no controller pods, a
dropped stream being reopened) come from other threads as messages."""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import RichLog, Static

from ksail_tui.errors import KsailError
from ksail_tui.flux.logs import MAX_LINES, LogLine, LogNotice, OnLine, OnNotice
from ksail_tui.models import ObjectRef
from ksail_tui.ui.styled import DIM

Follow = Callable[[ObjectRef, OnLine, OnNotice], Callable[[], None]]
LEVEL_STYLE = {"error": "bold red", "info": "green", "debug": "dim"}


def log_text(line: LogLine) -> Text:
    text = Text()
    text.append(line.ts[11:23] if len(line.ts) >= 23 else line.ts, style=DIM)
    text.append(f" {line.controller} ", style="bold")
    text.append(line.level, style=LEVEL_STYLE.get(line.level, ""))
    text.append(f" {line.message}")
    if line.error:
        text.append(f": {line.error}", style="red")
    return text


class LogReceived(Message):
    def __init__(self, line: LogLine) -> None:
        super().__init__()
        self.line = line


class LogNoticed(Message):
    def __init__(self, notice: LogNotice) -> None:
        super().__init__()
        self.notice = notice


class LogsScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape,q,l", "dismiss", "Close"),
        Binding("f", "toggle_follow", "Follow"),
    ]

    def __init__(self, ref: ObjectRef, follow: Follow) -> None:
        super().__init__()
        self._ref = ref
        self._follow = follow
        self._stop: Callable[[], None] | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="logs-dialog", classes="dialog") as dialog:
            dialog.border_title = f"controller logs of {self._ref}"
            dialog.border_subtitle = self._subtitle_text(following=True)
            yield Static(Text("waiting for the controllers' lines…", style=DIM), id="logs-note")
            yield RichLog(id="logs", max_lines=MAX_LINES, wrap=False, auto_scroll=True)

    def on_mount(self) -> None:
        try:
            self._stop = self._follow(self._ref, self._received, self._noticed)
        except KsailError as error:
            self._show_notice(LogNotice(error.message, error.hint or "", final=True))

    def on_unmount(self) -> None:
        if self._stop is not None:
            self._stop()

    def _received(self, line: LogLine) -> None:
        """On the writer's thread: posted, never waited for (a controller must not block on us)."""
        self.post_message(LogReceived(line))

    def _noticed(self, notice: LogNotice) -> None:
        self.post_message(LogNoticed(notice))

    @on(LogReceived)
    def _show(self, message: LogReceived) -> None:
        self.query_one(RichLog).write(log_text(message.line))
        note = self.query_one("#logs-note", Static)
        if not note.has_class("final"):
            note.display = False

    @on(LogNoticed)
    def _show_notice_message(self, message: LogNoticed) -> None:
        self._show_notice(message.notice)

    def _show_notice(self, notice: LogNotice) -> None:
        note = self.query_one("#logs-note", Static)
        hint = f"\n{notice.hint}" if notice.hint else ""
        note.update(Text(f"{notice.message}{hint}", style="red" if notice.final else "yellow"))
        note.set_class(notice.final, "final")
        note.display = True

    @property
    def following(self) -> bool:
        return self.query_one(RichLog).auto_scroll

    def action_toggle_follow(self) -> None:
        log = self.query_one(RichLog)
        log.auto_scroll = not log.auto_scroll
        if log.auto_scroll:
            log.scroll_end(animate=False)
        self.query_one("#logs-dialog").border_subtitle = self._subtitle_text(log.auto_scroll)

    @staticmethod
    def _subtitle_text(following: bool) -> str:
        return f"f follow: {'on' if following else 'off'} · last {MAX_LINES} lines · esc close"
