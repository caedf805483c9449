"""alignkit: an interactive Jupyter kit for teaching alignment in machine learning."""

from alignkit.device import describe, fast_mode, get_device, seed_everything
from alignkit.live import LivePanel

__version__ = "0.1.0"
__all__ = ["__version__", "LivePanel", "describe", "fast_mode", "get_device", "seed_everything"]
