"""The bundled fake of Just One API's Notes Details (V1) endpoint, over real HTTP.

``Simulator`` serves a deterministic world, as it is on the day ``as_of`` (default today in
Asia/Shanghai), with the faults of a ``Profile`` (see ``PROFILES``), and knows the ground
truth a perfect client should fetch on any day (``expected_notes(user_id, as_of=...)``).
"""

from .endpoint import ENDPOINT_PATH, Counters
from .profiles import PROFILES, Profile
from .server import Simulator

__all__ = ["ENDPOINT_PATH", "PROFILES", "Counters", "Profile", "Simulator"]
