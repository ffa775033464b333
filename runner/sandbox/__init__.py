"""A local server that behaves like Flowmatix's ``POST /inbox/users``.

``segments sandbox`` runs it for people; :class:`~runner.sandbox.server.Sandbox`
runs it inside tests and benchmarks. Contacts are generated deterministically
from a seed; filters, paging, auth, body errors, faults and live-data churn
follow our best reading of the real API (see the README).
"""

from runner.sandbox.options import SandboxOptions
from runner.sandbox.server import Sandbox

__all__ = ["Sandbox", "SandboxOptions"]
