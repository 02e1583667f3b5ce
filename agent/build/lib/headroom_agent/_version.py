"""Version of the headroom_agent package."""

__version__ = "0.1.0"
