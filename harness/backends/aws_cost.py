"""The cost guard of the real-AWS smoke run: pure arithmetic, no AWS calls.

A run may only ask for the instance types in `PRICES_USD_PER_HOUR` and at most
`CostCeiling.max_instances` instances; its worst case (every instance up for the run's hard
time limit plus the cluster's idle auto-termination, in case the harness dies and nothing
terminates it) must stay under `CostCeiling.max_usd`. Anything above is refused before a single
resource exists.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "PRICES_USD_PER_HOUR",
    "ClusterPlan",
    "CostCeiling",
    "CostGuardError",
    "check_cost",
]

#: On-demand USD per instance-hour in us-east-1 (EC2 price + EMR uplift), as listed on the
#: EC2 and EMR pricing pages in 2025. Only these types are allowed: all are accepted by
#: emr-6.15.0, and the smallest general-purpose sizes EMR supports for Spark.
PRICES_USD_PER_HOUR: dict[str, float] = {
    "m5.xlarge": 0.192 + 0.048,
    "m5a.xlarge": 0.172 + 0.048,
    "m6i.xlarge": 0.192 + 0.048,
    "m6g.xlarge": 0.154 + 0.039,
}


class CostGuardError(ValueError):
    """The requested cluster or run is above the cost ceiling (the message says which limit)."""


@dataclass(frozen=True)
class CostCeiling:
    """What a smoke run may cost at most."""

    max_instances: int = 3  # primary + core nodes
    max_usd: float = 2.0
    #: The longest a run may take (harness deadline); the cluster's idle auto-termination
    #: (`ClusterPlan.idle_timeout_s`) is added on top for the worst case.
    max_run_s: int = 60 * 60


@dataclass(frozen=True)
class ClusterPlan:
    """The cluster a run will create (what the DAG's Variables ask for) and its time bounds."""

    instance_type: str = "m5.xlarge"
    core_count: int = 1
    run_timeout_s: int = 45 * 60
    #: The DAG's AutoTerminationPolicy.IdleTimeout: the last hard stop if the harness dies.
    idle_timeout_s: int = 60 * 60

    @property
    def instances(self) -> int:
        return 1 + self.core_count  # one primary node

    @property
    def worst_case_hours(self) -> float:
        """Hours every instance may be billed, at worst: the run, then the idle timeout."""
        return (self.run_timeout_s + self.idle_timeout_s) / 3600

    def worst_case_usd(self) -> float:
        return self.instances * self.worst_case_hours * PRICES_USD_PER_HOUR[self.instance_type]

    def describe(self) -> str:
        price = PRICES_USD_PER_HOUR.get(self.instance_type)
        cost = f"~${self.worst_case_usd():.2f}" if price is not None else "unknown price"
        return (
            f"{self.instances} x {self.instance_type} (1 primary + {self.core_count} core) for at "
            f"most {self.worst_case_hours:.2f} h each = "
            f"{self.instances * self.worst_case_hours:.2f} instance-hours, {cost} at on-demand "
            "us-east-1 prices (EC2 + EMR)"
        )


def check_cost(plan: ClusterPlan, ceiling: CostCeiling = CostCeiling()) -> float:
    """Return the worst-case USD of `plan`, or raise `CostGuardError` naming the limit hit."""
    if plan.instance_type not in PRICES_USD_PER_HOUR:
        allowed = ", ".join(sorted(PRICES_USD_PER_HOUR))
        raise CostGuardError(
            f"cost guard: instance type {plan.instance_type!r} is not allowed for a smoke run "
            f"(allowed: {allowed})"
        )
    if plan.core_count < 1:
        raise CostGuardError(f"cost guard: core_count={plan.core_count}: the DAG needs >= 1")
    if plan.instances > ceiling.max_instances:
        raise CostGuardError(
            f"cost guard: {plan.instances} instances (1 primary + {plan.core_count} core) is "
            f"above the ceiling of {ceiling.max_instances}"
        )
    if not 0 < plan.run_timeout_s <= ceiling.max_run_s:
        raise CostGuardError(
            f"cost guard: run timeout {plan.run_timeout_s} s is outside (0, "
            f"{ceiling.max_run_s}] s"
        )
    usd = plan.worst_case_usd()
    if usd > ceiling.max_usd:
        raise CostGuardError(
            f"cost guard: worst case ${usd:.2f} ({plan.describe()}) is above the ceiling of "
            f"${ceiling.max_usd:.2f}"
        )
    return usd
