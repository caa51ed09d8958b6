"""A simulated Feldera pipeline manager for tests, demos and benchmarks.

``FakeFeldera`` is a real aiohttp server on loopback that behaves like Feldera's
pipeline manager for everything an events client can observe: the pipeline and
cluster monitor events endpoints, the pipeline API the official ``feldera`` SDK drives
a lifecycle with (upstream's lifecycle, cluster and API key platform tests that need
neither the SQL engine nor the enterprise edition pass against it; README "Fidelity"
lists the rest), a simulated compiler, ingress and stats without a SQL engine, API keys, tenants,
retention and scripted faults.  It does not import the client SDK; it speaks wire JSON
only.  ``python -m feldera_events.testing`` runs it as ``feldera-events fake-server``.
:func:`set_testing` turns the SDK's testing mode on (retries without waiting).

    async with FakeFeldera(speed=100) as fake:
        fake.create_pipeline("p1")
        fake.start("p1")
        await fake.wait_for_status("p1", deployment_resources_status="Provisioned")
"""

from feldera_events._testing_mode import set_testing
from feldera_events.testing._fake import FakeFeldera, run_fake_server
from feldera_events.testing._faults import Fault, FaultHandle
from feldera_events.testing._model import FakeAPIError, RequestRecord, Timings

__all__ = [
    "FakeAPIError",
    "FakeFeldera",
    "Fault",
    "FaultHandle",
    "RequestRecord",
    "Timings",
    "run_fake_server",
    "set_testing",
]
