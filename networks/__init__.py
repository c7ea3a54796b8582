"""MuZero-Lite's networks: representation, dynamics, reward, value, policy and exploration."""

from networks.model import Architecture, MuZeroNet, NetworkOutput, Prediction
from networks.support import h, h_inv, scalar_to_support, support_to_scalar

__all__ = [
    "Architecture",
    "MuZeroNet",
    "NetworkOutput",
    "Prediction",
    "h",
    "h_inv",
    "scalar_to_support",
    "support_to_scalar",
]
