"""The real-AWS cost guard: pure arithmetic, refusals name the limit."""

from __future__ import annotations

import pytest

from harness.backends.aws_cost import (
    PRICES_USD_PER_HOUR,
    ClusterPlan,
    CostCeiling,
    CostGuardError,
    check_cost,
)


def test_default_plan_is_small_and_within_the_ceiling():
    plan = ClusterPlan()
    assert (plan.instance_type, plan.instances) == ("m5.xlarge", 2)
    # 2 instances x (45 min run + 60 min idle auto-termination) x $0.24 = $0.84
    assert check_cost(plan) == pytest.approx(2 * 1.75 * 0.24)
    assert "3.50 instance-hours, ~$0.84" in plan.describe()


@pytest.mark.parametrize(
    ("plan", "ceiling", "message"),
    [
        (ClusterPlan(instance_type="r5.24xlarge"), CostCeiling(), "not allowed"),
        (ClusterPlan(core_count=0), CostCeiling(), "core_count=0"),
        (ClusterPlan(core_count=3), CostCeiling(), "4 instances (1 primary + 3 core)"),
        (ClusterPlan(run_timeout_s=0), CostCeiling(), "run timeout 0 s is outside"),
        (ClusterPlan(run_timeout_s=7200), CostCeiling(), "run timeout 7200 s is outside"),
        (ClusterPlan(core_count=2), CostCeiling(max_usd=1.0), "above the ceiling of $1.00"),
    ],
)
def test_refusals_name_the_limit(plan, ceiling, message):
    with pytest.raises(CostGuardError, match="cost guard") as e:
        check_cost(plan, ceiling)
    assert message in str(e.value)


def test_every_allowed_type_fits_the_default_ceiling_at_the_default_size():
    for instance_type in PRICES_USD_PER_HOUR:
        assert check_cost(ClusterPlan(instance_type=instance_type)) <= CostCeiling().max_usd
