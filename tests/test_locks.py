"""The Redis lock store keeps one conversation's messages one at a time across servers (real Redis)."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid

import pytest
import redis
from rasa.utils.endpoints import EndpointConfig

from bot.server.locks import AtomicRedisLockStore

DB = 12


@pytest.fixture()
def stores():
    prefix = f"t{uuid.uuid4().hex[:8]}"
    servers = [AtomicRedisLockStore(host="127.0.0.1", port=6379, db=DB, key_prefix=prefix) for _ in range(3)]
    yield servers
    client = redis.Redis(port=6379, db=DB)
    for key in client.scan_iter(f"{prefix}:*"):
        client.delete(key)


def test_it_is_built_from_the_endpoints_entry():
    config = EndpointConfig(url="127.0.0.1", port=6379, db=DB, key_prefix="tutor", type="bot.server.locks.AtomicRedisLockStore")
    store = AtomicRedisLockStore(endpoint_config=config)
    assert store.key_prefix.startswith("tutor:")
    assert store.red.ping()


def test_tickets_taken_at_once_by_several_servers_are_all_different(stores):
    conversation = "student"
    tickets: list[int] = []
    start = threading.Barrier(12)

    def take(store: AtomicRedisLockStore) -> None:
        start.wait()
        tickets.append(store.issue_ticket(conversation))

    threads = [threading.Thread(target=take, args=(stores[n % 3],)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(tickets) == list(range(12))
    assert len(stores[0].get_lock(conversation).tickets) == 12


def test_the_last_ticket_removes_the_lock(stores):
    first, second = stores[0].issue_ticket("s"), stores[1].issue_ticket("s")
    stores[1].cleanup("s", first)
    assert stores[0].get_lock("s").now_serving == second
    stores[0].cleanup("s", second)
    assert stores[2].get_lock("s") is None


def test_messages_from_several_servers_are_handled_one_at_a_time(stores):
    inside: list[int] = []
    overlaps: list[int] = []
    order: list[int] = []

    async def handle(store: AtomicRedisLockStore, n: int) -> None:
        async with store.lock("student", wait_time_in_seconds=0.01):
            inside.append(n)
            if len(inside) > 1:
                overlaps.append(n)
            order.append(n)
            await asyncio.sleep(0.02)
            time.sleep(0.005)
            inside.remove(n)

    def server(store: AtomicRedisLockStore, numbers: range) -> None:
        async def run() -> None:
            await asyncio.gather(*(handle(store, n) for n in numbers))

        asyncio.run(run())

    threads = [threading.Thread(target=server, args=(stores[k], range(k * 6, k * 6 + 6))) for k in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(order) == list(range(18))
    assert overlaps == []
    assert stores[0].get_lock("student") is None
