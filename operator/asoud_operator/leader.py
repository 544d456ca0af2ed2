"""Leader election on a coordination.k8s.io Lease, as client-go's leaderelection does it.

Several operator replicas may run (the chart runs two); exactly one reconciles. The others
wait, ready, for the Lease to expire. A leader that cannot renew within the lease duration
stops reconciling and exits, so two leaders never act at once; on a clean stop it releases
the Lease and a standby takes over at once instead of after the expiry.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from asoud_operator.kube import Kube, KubeError

log = logging.getLogger("asoud_operator.leader")
API_VERSION, KIND = "coordination.k8s.io/v1", "Lease"


def _time(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


class LeaseElector:
    def __init__(
        self,
        kube: Kube,
        namespace: str,
        name: str,
        identity: str,
        lease_seconds: float = 15.0,
        renew_seconds: float = 5.0,
    ) -> None:
        self.kube = kube
        self.namespace = namespace
        self.name = name
        self.identity = identity
        self.lease_seconds = lease_seconds
        self.renew_seconds = renew_seconds
        self.leading = False
        self.last_contact = 0.0  # loop time of the last answer from the API server

    def _body(self, lease: dict[str, Any] | None, now: datetime) -> dict[str, Any]:
        spec = dict((lease or {}).get("spec") or {})
        taking_over = spec.get("holderIdentity") != self.identity
        spec.update(
            holderIdentity=self.identity,
            leaseDurationSeconds=int(self.lease_seconds),
            renewTime=_time(now),
        )
        if taking_over:
            spec["acquireTime"] = _time(now)
            spec["leaseTransitions"] = int(spec.get("leaseTransitions") or 0) + (1 if lease else 0)
        meta: dict[str, Any] = {"name": self.name, "namespace": self.namespace}
        if lease is not None:
            meta["resourceVersion"] = lease["metadata"]["resourceVersion"]
        return {"apiVersion": API_VERSION, "kind": KIND, "metadata": meta, "spec": spec}

    async def try_acquire(self) -> bool:
        """One attempt to take or renew the Lease (optimistic: a 409 means someone else won)."""
        now = datetime.now(UTC)
        try:
            lease = await self.kube.get(API_VERSION, KIND, self.namespace, self.name)
            self.last_contact = asyncio.get_running_loop().time()
            if lease is None:
                await self.kube.create(self._body(None, now))
                return True
            spec = lease.get("spec") or {}
            holder = spec.get("holderIdentity") or ""
            renewed = _parse(spec.get("renewTime")) or datetime.min.replace(tzinfo=UTC)
            duration = timedelta(seconds=int(spec.get("leaseDurationSeconds") or 15))
            if holder and holder != self.identity and renewed + duration > now:
                return False  # held by a live leader
            await self.kube.replace(self._body(lease, now))
            return True
        except KubeError as exc:
            if exc.status != 409:
                log.warning("lease %s/%s: %s", self.namespace, self.name, exc)
            return False

    async def acquire(self) -> None:
        while not await self.try_acquire():  # noqa: ASYNC110 - retrying the API is the protocol
            await asyncio.sleep(self.renew_seconds)
        self.leading = True
        log.info("leading as %s", self.identity)

    async def keep(self, lost: asyncio.Event) -> None:
        """Renew until stopped; set ``lost`` when the Lease could not be renewed in time."""
        loop = asyncio.get_running_loop()
        renewed_at = loop.time()
        while True:
            await asyncio.sleep(self.renew_seconds)
            if await self.try_acquire():
                renewed_at = loop.time()
            elif loop.time() - renewed_at >= self.lease_seconds - self.renew_seconds:
                self.leading = False
                log.error("lost the lease %s/%s; stopping", self.namespace, self.name)
                lost.set()
                return

    async def release(self) -> None:
        if not self.leading:
            return
        try:
            lease = await self.kube.get(API_VERSION, KIND, self.namespace, self.name)
            if lease and (lease.get("spec") or {}).get("holderIdentity") == self.identity:
                body = self._body(lease, datetime.now(UTC))
                body["spec"]["holderIdentity"] = ""
                await self.kube.replace(body)
        except KubeError as exc:
            log.warning("could not release the lease: %s", exc)
        self.leading = False
