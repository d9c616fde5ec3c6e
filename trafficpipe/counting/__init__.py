"""Counting tracked objects: lines crossed (per class and direction) and zones (occupancy, dwell time)."""
from .spec import CountSpecError, Line, Zone, check_in_frame, parse_count_specs

__all__ = ["CountSpecError", "Line", "Zone", "check_in_frame", "parse_count_specs"]
