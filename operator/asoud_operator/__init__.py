"""The AsoudStore operator: pure desired-state functions plus thin kopf handlers.

- ``spec``: the AsoudStore spec with its defaults, as typed values.
- ``children``: the Kubernetes objects one store should own (Deployments, Services, ...).
- ``conditions``: Kubernetes-convention status conditions.
- ``migrations``: the migration Job and the rollout gate.
- ``signing_keys``: the keyset Secret and its rotation schedule.
- ``credentials``: database credential rotation (dual users).
- ``autoscaling``: worker replicas from the Redis task backlog.
- ``handlers``: kopf wiring; ``metrics``: the operator's own Prometheus metrics.
"""
