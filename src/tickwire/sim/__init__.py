"""Exchange simulator: a loopback WebSocket server speaking several venues' public protocols."""

from tickwire.sim.faults import Fault, FaultPlan
from tickwire.sim.server import Simulator, SimulatorStats

__all__ = ["Fault", "FaultPlan", "Simulator", "SimulatorStats"]
