"""Exchange simulator: a loopback WebSocket server speaking several venues' public protocols."""

from tickwire.sim.server import Simulator, SimulatorStats

__all__ = ["Simulator", "SimulatorStats"]
