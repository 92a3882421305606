"""Exchange simulator: a loopback WebSocket server speaking the Binance spot stream protocol."""

from tickwire.sim.server import Simulator, SimulatorStats

__all__ = ["Simulator", "SimulatorStats"]
