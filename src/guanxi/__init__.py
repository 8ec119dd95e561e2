"""guanxi: customer relationship and loyalty platform."""

__version__ = "0.1.0"
