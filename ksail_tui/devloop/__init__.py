"""Watch mode: save a manifest, see it reconciled (see ``loop`` for how a cycle runs).

loop = DevLoop(config, ["app"], on_state=show).start()
...
loop.stop()
"""

from ksail_tui.devloop.loop import DEFAULT_DEBOUNCE_SECONDS, DEFAULT_KEEP, DevLoop
from ksail_tui.devloop.state import CycleResult, LoopProblem, LoopState, Phase

__all__ = [
    "DEFAULT_DEBOUNCE_SECONDS",
    "DEFAULT_KEEP",
    "CycleResult",
    "DevLoop",
    "LoopProblem",
    "LoopState",
    "Phase",
]
