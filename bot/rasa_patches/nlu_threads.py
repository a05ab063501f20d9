"""NLU in worker threads, so one student's message does not stop every other conversation.

Rasa 3.6 runs NLU (MiniLM, the intent classifier) synchronously on the server's only event loop: while one
message is understood no other student's message moves. It runs in as many worker threads
as there are cores instead (the models release the GIL); the message's own conversation is
still locked, so its order does not change. The rest is Rasa 3.6's ``parse_message``.

After a model's first parse the heap is frozen (``bot.server.heap``): what the models build
lazily is built by then, and later garbage collections walk only what conversations create.
A model loaded later (``PUT /model``) has a new processor, so it is frozen again.
"""

from __future__ import annotations

import asyncio
import os
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bot.rasa_patches import Patch

_pool: list[ThreadPoolExecutor] = []
_frozen_for: weakref.WeakSet = weakref.WeakSet()


def nlu_pool() -> ThreadPoolExecutor:
    """As many NLU threads as cores: more only wait for each other and for Python's lock."""
    if not _pool:
        _pool.append(ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="nlu"))
    return _pool[0]


def _threaded(original: Callable[..., Any]) -> Callable[..., Any]:
    from rasa.shared.core.trackers import DialogueStateTracker

    from bot.server.heap import freeze_heap

    async def parse_message(
        self: Any, message: Any, tracker: Any = None, only_output_properties: bool = True
    ) -> dict[str, Any]:
        if self.http_interpreter:
            return await original(self, message, tracker, only_output_properties)
        if tracker is None:
            tracker = DialogueStateTracker.from_events(message.sender_id, [])
        parse_data = await asyncio.get_running_loop().run_in_executor(
            nlu_pool(), self._parse_message_with_graph, message, tracker, only_output_properties
        )
        if self not in _frozen_for:
            _frozen_for.add(self)
            freeze_heap()
        self._update_full_retrieval_intent(parse_data)
        self._check_for_unseen_features(parse_data)
        return parse_data

    return parse_message


PATCHES = [Patch("nlu_threads", "rasa.core.processor:MessageProcessor.parse_message", "b98d8e49b9f2c433", _threaded)]
