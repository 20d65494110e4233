"""How Ray Serve's gRPC proxy picks a replica for each call: the one with the fewest calls in
hand, so that two jobs sent at once run on two replicas.

Serve's default router (power of two choices) compares the replicas' queue lengths as it last
heard them. Two jobs sent within the same few milliseconds both read "0 and 0" before either
reaches its replica, and one time in two both went to the same replica; and an idle replica
not heard from for 10 s (Serve's cache timeout) lost to a busy one whose figure was fresh.
Either way the second job waited behind the first while a replica stood idle (a fresh-clone CI
run caught it: tests/test_cluster_service.py::test_two_jobs_at_once_land_on_two_replicas).

FewestJobsRouter counts the calls it has itself sent to each replica and not yet seen end,
and counts a call against its replica the moment it is chosen, before the first await, so the
next call already sees it. Ties are broken at random. A replica Serve knows to be full is passed
over, as by the default router. Each proxy (one per node) counts its own calls: clients
pointed at one address share one count.

Loaded by the gRPC proxy under `nst-server ... --cluster` (server/cluster.py names it in the
deployment's RequestRouterConfig); Ray is imported only there.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from ray.serve.request_router import PendingRequest, ReplicaID, RequestRouter, RunningReplica

# Tries at the chosen replica (Serve probes it, with a longer deadline each time) before the
# others, busier ones, are offered too: a replica that stops answering does not hold calls.
PATIENCE = 3
# A call chosen but neither sent nor chosen again within this long was given up by its
# client (a cancelled call never reaches on_request_completed): its count is dropped.
ABANDONED_S = 10.0


@dataclass
class Claim:
    """One call this router has chosen a replica for, until the call ends."""

    replica_id: ReplicaID
    since: float
    sent: bool = False
    tries: int = 1


class FewestJobsRouter(RequestRouter):
    """Sends each call to the replica with the fewest calls this router has in flight on it."""

    def initialize_state(self, **kwargs) -> None:
        self._claims: dict[str, Claim] = {}

    def calls_on(self, replica_id: ReplicaID) -> int:
        """The calls this router has chosen `replica_id` for and not yet seen end."""
        return sum(claim.replica_id == replica_id for claim in self._claims.values())

    def ranked(self, replicas: list[RunningReplica]) -> list[RunningReplica]:
        """Fewest calls first, then the shortest queue Serve last heard of (calls from other
        proxies), ties in random order (a fixed turn fell into step with clients that make
        calls in fixed rounds)."""

        def load(replica: RunningReplica) -> tuple[int, int, float]:
            heard = self.replica_queue_len_cache.get(replica.replica_id) or 0
            return self.calls_on(replica.replica_id), heard, random.random()

        return sorted(replicas, key=load)

    async def choose_replicas(
        self,
        candidate_replicas: list[RunningReplica],
        pending_request: PendingRequest | None = None,
    ) -> list[list[RunningReplica]]:
        self._forget_abandoned()
        ranked = self.ranked(self.select_available_replicas(candidate_replicas))
        if not ranked:  # every replica full as far as Serve knows: let Serve probe them all
            return [candidate_replicas]
        if pending_request is None:
            return [ranked]
        call = pending_request.metadata.internal_request_id
        claim = self._claims.get(call)
        if claim is None or claim.replica_id not in {r.replica_id for r in ranked}:
            claim = self._claims[call] = Claim(ranked[0].replica_id, self._now())
        else:
            claim.tries, claim.since = claim.tries + 1, self._now()
        first = next(r for r in ranked if r.replica_id == claim.replica_id)
        if claim.tries <= PATIENCE:
            return [[first]]
        return [[first], [r for r in ranked if r is not first]]

    def on_request_routed(
        self, pending_request: PendingRequest, replica_id: ReplicaID, result: object
    ) -> None:
        """The replica accepted the call (it may not be the first choice, if that was full)."""
        call = pending_request.metadata.internal_request_id
        self._claims[call] = Claim(replica_id, self._now(), sent=True)

    def on_request_completed(self, replica_id: ReplicaID, internal_request_id: str) -> None:
        self._claims.pop(internal_request_id, None)

    def _forget_abandoned(self) -> None:
        stale = self._now() - ABANDONED_S
        gone = [c for c, claim in self._claims.items() if not claim.sent and claim.since < stale]
        for call in gone:
            del self._claims[call]

    def _now(self) -> float:
        return self._get_curr_time_s()
