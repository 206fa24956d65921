"""Node processes over torch.distributed (gloo): start, message, count traffic, always tear down.

Rank 0 is the client (and dealer); ranks 1..k are the nodes node0..node{k-1}. Every process joins
one gloo group through a TCPStore at MASTER_ADDR:MASTER_PORT. ``NodeCluster.start`` spawns the k
node processes on this machine with the address given; on other machines the same node code is
started with ``python -m nesabench.hybrid.nodes --rank R --world W --master-addr A --master-port P``
(``launch: remote`` in the technique config), and nothing else changes.

A node that raises writes its error to the store under ``error/<rank>`` and exits; the client,
whose next receive then fails, reads the error, kills every node it started and raises it.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import logging
import os
import pickle
import socket
import time
import traceback
import weakref
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist

log = logging.getLogger(__name__)

#: How long any blocking receive may wait before the group gives up (a dead peer fails sooner).
DEFAULT_TIMEOUT_S = 120.0
#: How long an idle node waits for the client's next request in one store wait (then waits again).
IDLE_WAIT_S = 24 * 3600.0
#: Size of the one message a small pickled object (a request, a node's per-call stats) travels in.
OBJECT_FRAME = 1024


def free_port(addr: str) -> int:
    with socket.socket() as s:
        s.bind((addr, 0))
        return int(s.getsockname()[1])


@dataclass
class Traffic:
    """Bytes and communication rounds one party saw on the wire (counted in ``Channel``)."""

    bytes_sent: int = 0
    bytes_recv: int = 0
    messages: int = 0
    rounds: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(vars(self))


@dataclass
class Channel:
    """This process's end of the group: every send/recv/broadcast goes through here and is counted."""

    rank: int
    world: int
    traffic: Traffic = field(default_factory=Traffic)
    #: The group's TCPStore: a request is announced there first, so an idle node waits on the store
    #: (no gloo timeout while the client does other work) and only then on the gloo receive.
    store: Any = None
    _sent_requests: dict[int, int] = field(default_factory=dict)
    _served: int = 0

    def send(self, t: torch.Tensor, dst: int) -> None:
        t = t.contiguous()
        dist.send(t, dst)
        self.traffic.bytes_sent += t.element_size() * t.nelement()
        self.traffic.messages += 1

    def isend(self, t: torch.Tensor, dst: int) -> Any:
        """Start a send; the caller waits on the returned work (keep ``t`` alive until then)."""
        t = t.contiguous()
        work = dist.isend(t, dst)
        self.traffic.bytes_sent += t.element_size() * t.nelement()
        self.traffic.messages += 1
        return work, t

    def recv(self, like: torch.Tensor, src: int) -> torch.Tensor:
        dist.recv(like, src)
        self.traffic.bytes_recv += like.element_size() * like.nelement()
        return like

    def recv_shape(self, shape: tuple[int, ...] | torch.Size, src: int,
                   dtype: torch.dtype = torch.int64) -> torch.Tensor:
        return self.recv(torch.empty(tuple(shape), dtype=dtype), src)

    def exchange(self, outgoing: dict[int, torch.Tensor],
                 incoming: dict[int, tuple[int, ...]]) -> dict[int, torch.Tensor]:
        """Send to and receive from several peers at once (one round, no ordering deadlock)."""
        works, got = [], {}
        for dst, t in outgoing.items():
            t = t.contiguous()
            works.append(dist.isend(t, dst))
            self.traffic.bytes_sent += t.element_size() * t.nelement()
            self.traffic.messages += 1
        for src, shape in incoming.items():
            got[src] = torch.empty(tuple(shape), dtype=torch.int64)
            works.append(dist.irecv(got[src], src))
        for w in works:
            w.wait()
        for t in got.values():
            self.traffic.bytes_recv += t.element_size() * t.nelement()
        return got

    def send_object(self, obj: Any, dst: int) -> None:
        """A pickled object in one message of at least OBJECT_FRAME bytes (8-byte length first);
        an object larger than the frame sends its rest in a second message."""
        data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
        n = len(data)
        frame = torch.zeros(OBJECT_FRAME, dtype=torch.uint8)
        frame[:8] = torch.frombuffer(bytearray(n.to_bytes(8, "little")), dtype=torch.uint8)
        head = min(n, OBJECT_FRAME - 8)
        frame[8 : 8 + head] = torch.frombuffer(bytearray(data[:head]), dtype=torch.uint8)
        self.send(frame, dst)
        if n > head:
            self.send(torch.frombuffer(bytearray(data[head:]), dtype=torch.uint8), dst)

    def recv_object(self, src: int) -> Any:
        frame = self.recv(torch.empty(OBJECT_FRAME, dtype=torch.uint8), src).numpy().tobytes()
        n = int.from_bytes(frame[:8], "little")
        data = frame[8 : 8 + min(n, OBJECT_FRAME - 8)]
        if n > len(data):
            data += self.recv(torch.empty(n - len(data), dtype=torch.uint8), src).numpy().tobytes()
        return pickle.loads(data)

    def send_request(self, obj: Any, dst: int) -> None:
        """A request from the client to node ``dst``: announced on the store, then sent."""
        self.send_requests(obj, [dst])

    def send_requests(self, obj: Any, dsts: list[int]) -> None:
        """The same request to several nodes: every announcement first, then the messages."""
        keys = []
        for dst in dsts:
            seq = self._sent_requests.get(dst, 0)
            self._sent_requests[dst] = seq + 1
            keys.append(f"request/{dst}/{seq}")
        if self.store is not None:  # one store round trip for every node
            self.store.multi_set(keys, [b"1"] * len(keys))
        for dst in dsts:
            self.send_object(obj, dst)

    def recv_request(self, idle_wait_s: float = IDLE_WAIT_S) -> Any:
        """The next request from the client; waits on the store for as long as the client lives
        (the store is served by the client: if the client dies the wait fails at once). The
        announcement keys are not deleted (one tiny key per request; a delete is one more store
        round trip on every request's path)."""
        key = f"request/{self.rank}/{self._served}"
        while self.store is not None:
            try:
                self.store.wait([key], timedelta(seconds=idle_wait_s))
                break
            except dist.DistStoreError as err:
                if "timeout" not in str(err).lower():
                    raise
        self._served += 1
        return self.recv_object(0)

    def round(self) -> None:
        self.traffic.rounds += 1


def join_group(rank: int, world: int, addr: str, port: int, timeout_s: float) -> dist.TCPStore:
    store = dist.TCPStore(addr, port, world_size=world, is_master=rank == 0,
                          timeout=timedelta(seconds=timeout_s), wait_for_workers=False)
    dist.init_process_group("gloo", store=store, rank=rank, world_size=world,
                            timeout=timedelta(seconds=timeout_s))
    return store


def node_main(rank: int, world: int, addr: str, port: int, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
    """A node's whole life: join, serve the client's requests until told to stop, leave."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    torch.set_num_threads(1)
    from nesabench.hybrid.protocol import NodeServer  # heavy import after the fork/spawn

    store = None
    try:
        store = join_group(rank, world, addr, port, timeout_s)
        NodeServer(Channel(rank, world, store=store)).serve()
    except KeyboardInterrupt:
        pass
    except BaseException as err:  # reported to the client through the store, then exit
        msg = f"node{rank - 1}: {type(err).__name__}: {err}"
        if store is not None:
            with contextlib.suppress(Exception):
                store.set(f"error/{rank}", msg + "\n" + traceback.format_exc())
        log.error("%s", msg)
        os._exit(1)
    finally:
        leave_group()


def _kill(procs: list[Any]) -> None:
    for p in procs:
        if p.is_alive():
            p.terminate()
    deadline = time.monotonic() + 5
    for p in procs:
        p.join(max(0.0, deadline - time.monotonic()))
        if p.is_alive():
            p.kill()
            p.join(2)


#: The cluster this process is the client of, if any (a process can be in one group at a time).
_active: weakref.ref | None = None


class NodeFailure(RuntimeError):
    """A node raised (or died); the message names the node and its error."""


class NodeCluster:
    """The client's handle on the group: it is rank 0, the nodes are ranks 1..k."""

    def __init__(self, nodes: int, master_addr: str = "127.0.0.1", master_port: int = 0,
                 launch: str = "local", timeout_s: float = DEFAULT_TIMEOUT_S):
        if nodes < 2:
            raise ValueError(f"nodes must be >= 2 (additive sharing between untrusted nodes), got {nodes}")
        if launch not in ("local", "remote"):
            raise ValueError(f"launch must be 'local' (spawn the nodes here) or 'remote', got {launch!r}")
        self.nodes, self.world = nodes, nodes + 1
        self.addr = master_addr
        self.port = master_port or free_port(master_addr)
        self.launch, self.timeout_s = launch, timeout_s
        self.procs: list[Any] = []
        self.store: dist.TCPStore | None = None
        self.channel = Channel(0, self.world)
        self._finalizer: weakref.finalize | None = None

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs if p.pid is not None]

    def start(self) -> None:
        global _active
        previous = _active() if _active is not None else None
        if previous is not None and previous is not self:
            # One group per process: a cluster still alive here belongs to an earlier run (e.g. a
            # pipeline not yet collected in a multirun sweep); stop it rather than fail this run.
            log.warning("closing a node cluster left over from an earlier run")
            previous.close()
        if dist.is_initialized():
            raise RuntimeError("a torch.distributed group is already active in this process; close it first")
        _active = weakref.ref(self)
        if self.launch == "local":
            import multiprocessing as mp

            ctx = mp.get_context("spawn")
            for rank in range(1, self.world):
                p = ctx.Process(target=node_main,
                                args=(rank, self.world, self.addr, self.port, self.timeout_s),
                                daemon=True, name=f"nesabench-node{rank - 1}")
                p.start()
                self.procs.append(p)
        self._finalizer = weakref.finalize(self, _teardown, self.procs)
        atexit.register(self._finalizer)
        try:
            self.store = join_group(0, self.world, self.addr, self.port, self.timeout_s)
            self.channel.store = self.store
        except BaseException:
            self.close()
            raise

    def node_error(self) -> str | None:
        """The first error a node reported, if any (waits briefly for it to land)."""
        if self.store is None:
            return None
        deadline = time.monotonic() + 3
        while True:
            for rank in range(1, self.world):
                key = f"error/{rank}"
                try:
                    if self.store.check([key]):
                        return self.store.get(key).decode().splitlines()[0]
                except Exception:
                    return None
            dead = [p for p in self.procs if not p.is_alive()]
            if time.monotonic() > deadline or (not dead and self.procs):
                return f"{dead[0].name} exited with code {dead[0].exitcode}" if dead else None
            time.sleep(0.05)

    def fail(self, err: BaseException) -> NodeFailure:
        """Turn a communication error into the node's own error, after tearing everything down."""
        reason = self.node_error() or f"{type(err).__name__}: {err}"
        self.close()
        return NodeFailure(reason)

    def close(self) -> None:
        """Stop every node this client started and leave the group; safe to call twice."""
        if self._finalizer is not None:
            self._finalizer.detach()
            atexit.unregister(self._finalizer)
        _teardown(self.procs)
        self.procs = []
        self.store = None


def leave_group() -> None:
    """Leave the torch.distributed group if this process is in one (never raises)."""
    if dist.is_initialized():
        with contextlib.suppress(Exception):
            dist.destroy_process_group()


def _teardown(procs: list[Any]) -> None:
    _kill(procs)
    leave_group()


def main(argv: list[str] | None = None) -> None:
    """Start one node on this machine, joining a client at --master-addr:--master-port."""
    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("--rank", type=int, required=True, help="1..k (0 is the client)")
    ap.add_argument("--world", type=int, required=True, help="k + 1")
    ap.add_argument("--master-addr", default=os.environ.get("MASTER_ADDR", "127.0.0.1"))
    ap.add_argument("--master-port", type=int, default=int(os.environ.get("MASTER_PORT", "29500")))
    ap.add_argument("--timeout-s", type=float, default=DEFAULT_TIMEOUT_S)
    args = ap.parse_args(argv)
    node_main(args.rank, args.world, args.master_addr, args.master_port, args.timeout_s)


if __name__ == "__main__":
    main()
