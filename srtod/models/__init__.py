"""Models: the SR-TOD modules (``srtod.models.srtod``) and RFLA (``srtod.models.rfla``)."""
from . import rfla, srtod  # noqa: F401
