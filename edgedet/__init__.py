"""edgedet: object detectors from a GPU to phones and ARM boards."""

__version__ = "0.1.0"
