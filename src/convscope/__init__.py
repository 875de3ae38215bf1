"""convscope: train small vision and sequence networks and see what they learned."""

__version__ = "0.1.0"
