"""Progress bars for long steps (training, keygen, proving), on stderr.

Shown on a terminal; in logs and CI (no TTY) they stay quiet unless NESABENCH_PROGRESS=1.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from typing import TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")


def progress(items: Iterable[T], desc: str, **kwargs) -> tqdm:
    forced = os.environ.get("NESABENCH_PROGRESS")
    disable = (forced == "0") if forced is not None else not sys.stderr.isatty()
    return tqdm(items, desc=desc, disable=disable, leave=False, dynamic_ncols=True, **kwargs)
