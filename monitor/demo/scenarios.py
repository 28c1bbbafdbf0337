"""The demo's scenarios: what changes during the simulated week, and how strongly each day.

Plain data, apart from the simulator (monitor.demo.simulate), so `driftline --help` lists them without
importing numpy or pandas.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SCENARIOS", "Scenario"]


@dataclass(frozen=True)
class Scenario:
    """What changes, and how strongly on each simulated day (0 = unchanged)."""

    name: str
    description: str
    intensity: tuple[float, ...]  # per day of the week; days beyond repeat the last value


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("new_tire_batch", "a new tire batch: force Z and torque Z shift, a new tire type appears",
                 (0, 0, 0, 0.35, 1.0, 1.0, 0)),
        Scenario("noisy_sensor", "the force Y sensor gets three times noisier", (0, 0, 0, 1, 1, 1, 1)),
        Scenario("stuck_channel", "torque X is stuck at a constant, then drops out (nulls)", (0, 0, 0, 1, 1, 2, 2)),
        Scenario("step_out_of_range", "step indices run past the trained range", (0, 0, 0, 1, 1, 1, 1)),
        Scenario("model_swap", "a silent model swap: another version, miscalibrated", (0, 0, 0, 1, 1, 1, 1)),
        Scenario("covariate_shift", "inputs shift, the signal-defect relation is unchanged", (0, 0, 0, 1, 1, 1, 1)),
        Scenario("concept_drift", "the signal-defect relation changes, inputs do not", (0, 0, 0, 1, 1, 1, 1)),
        Scenario("none", "no change", (0,)),
    )
}
