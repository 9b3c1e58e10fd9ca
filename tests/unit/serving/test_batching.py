"""Micro-batching: concurrent requests share predict calls and get their own rows back."""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import pytest

from mlfactory.inputs import Batch
from mlfactory.serving.batching import MicroBatcher


def _batch(values: list[float]) -> Batch:
    return Batch(["x"], matrix=np.array(values, dtype=float).reshape(-1, 1))


def test_concurrent_requests_are_batched_and_split_back() -> None:
    calls: list[int] = []
    gate = threading.Event()

    def predict(b: Batch) -> tuple[np.ndarray, None]:
        gate.wait(5)  # hold the first call so the others queue up behind it
        calls.append(b.n)
        return b.matrix[:, 0] * 10, None  # type: ignore[index]

    batcher = MicroBatcher(predict, max_rows=100)

    async def main() -> list[np.ndarray]:
        tasks = [asyncio.create_task(batcher.submit(_batch([i, i + 0.5]))) for i in range(20)]
        await asyncio.sleep(0.05)
        gate.set()
        return [(await t)[0] for t in tasks]

    results = asyncio.run(main())
    batcher.close()
    assert [r.tolist() for r in results] == [[i * 10, i * 10 + 5] for i in range(20)]
    assert len(calls) < 20 and sum(calls) == 40


def test_one_bad_request_does_not_fail_its_batch() -> None:
    gate = threading.Event()

    def predict(b: Batch) -> tuple[np.ndarray, None]:
        gate.wait(5)
        if (b.matrix < 0).any():  # type: ignore[operator]
            raise ValueError("negative")
        return b.matrix[:, 0], None  # type: ignore[index]

    batcher = MicroBatcher(predict, max_rows=100, max_wait=0.001)

    async def main() -> list[object]:
        tasks = [asyncio.create_task(batcher.submit(_batch([v]))) for v in (1, 2, -1, 3)]
        await asyncio.sleep(0.05)
        gate.set()
        return await asyncio.gather(*tasks, return_exceptions=True)

    out = asyncio.run(main())
    batcher.close()
    assert [o[0].tolist() for o in out if isinstance(o, tuple)] == [[1.0], [2.0], [3.0]]
    assert isinstance(out[2], ValueError)


def test_closed_batcher_predicts_inline() -> None:
    batcher = MicroBatcher(lambda b: (b.matrix[:, 0], None), max_rows=10)  # type: ignore[index]
    batcher.close()
    pred, _ = asyncio.run(batcher.submit(_batch([4.0])))
    assert pred.tolist() == [4.0]


@pytest.mark.parametrize("rows", [1, 600])
def test_large_requests_run_alone(rows: int) -> None:
    sizes: list[int] = []
    batcher = MicroBatcher(lambda b: (sizes.append(b.n) or b.matrix[:, 0], None), max_rows=512)  # type: ignore[func-returns-value,index]

    async def main() -> None:
        await asyncio.gather(*(batcher.submit(_batch([0.0] * rows)) for _ in range(3)))

    asyncio.run(main())
    batcher.close()
    assert sum(sizes) == 3 * rows and max(sizes) <= max(rows, 512)
