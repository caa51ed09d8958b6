"""feldera-events: an async SDK for Feldera's pipeline monitor events API.

Wait for, watch and audit Feldera pipelines from asyncio code.
"""

from __future__ import annotations

from typing import Any

from ._client import ApiKey, EventsClient, Timeouts
from ._cluster import ClusterEvent, MonitorStatus
from ._config import set_testing
from ._errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ClientClosedError,
    ClusterEventsUnsupportedError,
    ClusterWaitTimeoutError,
    ConnectionSetupError,
    DeploymentFailedError,
    DeploymentStoppedError,
    EventNotFoundError,
    FelderaError,
    NoEventsYetError,
    NotFoundError,
    PermissionDeniedError,
    PipelineNotFoundError,
    RateLimitError,
    RedirectError,
    ResponseTooLargeError,
    ResponseValidationError,
    ServerError,
    WaitError,
    WaitTimeoutError,
)
from ._models import (
    UNSET,
    ClusterHealth,
    CombinedStatus,
    DeploymentError,
    OpenEnum,
    PipelineEvent,
    ProgramStatus,
    ResourcesDesiredStatus,
    ResourcesStatus,
    RuntimeDesiredStatus,
    RuntimeStatus,
    Selector,
    ServiceHealth,
    StorageStatus,
    Unset,
)
from ._poller import (
    ClusterEventCallback,
    EventCallback,
    Outcome,
    Poller,
    PollPolicy,
    Since,
    WaitResult,
    wait_until_provisioned,
    wait_until_running,
)
from ._retry import RetryPolicy

__all__ = [
    "UNSET",
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "ApiKey",
    "AuthenticationError",
    "BadRequestError",
    "ClientClosedError",
    "ClusterEvent",
    "ClusterHealth",
    "ClusterEventCallback",
    "ClusterEventsUnsupportedError",
    "ClusterWaitTimeoutError",
    "ConnectionSetupError",
    "CombinedStatus",
    "DeploymentError",
    "DeploymentFailedError",
    "DeploymentStoppedError",
    "EventCallback",
    "EventNotFoundError",
    "EventsClient",
    "FelderaError",
    "MonitorStatus",
    "NoEventsYetError",
    "NotFoundError",
    "OpenEnum",
    "Outcome",
    "PermissionDeniedError",
    "PipelineEvent",
    "PipelineNotFoundError",
    "PollPolicy",
    "Poller",
    "ProgramStatus",
    "RateLimitError",
    "RedirectError",
    "ResourcesDesiredStatus",
    "ResourcesStatus",
    "ResponseTooLargeError",
    "ResponseValidationError",
    "RetryPolicy",
    "RuntimeDesiredStatus",
    "RuntimeStatus",
    "Selector",
    "ServerError",
    "ServiceHealth",
    "Since",
    "StorageStatus",
    "Timeouts",
    "Unset",
    "WaitError",
    "WaitResult",
    "WaitTimeoutError",
    "__version__",
    "set_testing",
    "wait_until_provisioned",
    "wait_until_running",
]


def __getattr__(name: str) -> Any:
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("feldera-events")
        except PackageNotFoundError:  # pragma: no cover - running from a source tree
            return "0+unknown"
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
