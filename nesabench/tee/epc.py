"""The enclave page cache: secure memory of a fixed number of pages, least-recently-used eviction.

Playing each call's page-access sequence against it gives the pages swapped in (each a page fault
the host sees, at the page's virtual address: the controlled channel) and evicted. When every
page the enclave owns fits, nothing is ever evicted and the simulation is skipped (exact for LRU).
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np


class EnclavePageCache:
    def __init__(self, capacity_pages: int) -> None:
        if capacity_pages < 1:
            raise ValueError(f"secure memory must hold at least one page, got {capacity_pages}")
        self.capacity = capacity_pages
        self._resident: OrderedDict[int, None] = OrderedDict()
        self._fits = False
        self._loaded = 0

    def load(self, pages: np.ndarray) -> int:
        """Build the enclave (EADD every page in order); returns pages evicted while loading."""
        self._fits = len(pages) <= self.capacity
        self._loaded = int(pages.max()) + 1 if pages.size else 0
        return len(self.access(pages))

    def access(self, pages: np.ndarray) -> np.ndarray:
        """Touch pages in order; returns the pages that faulted (swapped in), in order."""
        if self._fits and pages.size and int(pages.max()) < self._loaded:
            return np.zeros(0, np.int64)  # everything the enclave owns is resident
        resident, cap = self._resident, self.capacity
        faults = []
        for p in pages.tolist():
            if p in resident:
                resident.move_to_end(p)
                continue
            if len(resident) >= cap:
                resident.popitem(last=False)
            resident[p] = None
            faults.append(p)
        return np.asarray(faults, dtype=np.int64)
