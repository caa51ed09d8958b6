"""feldera-events: an async SDK for Feldera's pipeline monitor events API.

Wait for, watch and audit Feldera pipelines from asyncio code.
"""

from __future__ import annotations

import warnings
from typing import Any

from . import _testing_mode
from ._acceptors import Until
from ._client import ApiKey, EventsClient
from ._cluster_event import ClusterEvent, ClusterHealth, MonitorStatus, ServiceHealth
from ._config import Timeouts, package_version
from ._errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ClientClosedError,
    ClusterEventsUnsupportedError,
    ConnectionSetupError,
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
)
from ._fields import UNSET, OpenEnum, Selector, Unset
from ._pipeline_event import (
    CombinedStatus,
    DeploymentError,
    PipelineEvent,
    ProgramStatus,
    ResourcesDesiredStatus,
    ResourcesStatus,
    RuntimeDesiredStatus,
    RuntimeStatus,
    StorageStatus,
)
from ._policies import DEFAULT_RETRY_STATUSES, PollPolicy, RetryPolicy
from ._poller import (
    ClusterEventCallback,
    EventCallback,
    ManyOptions,
    OneShotOptions,
    Outcome,
    Poller,
    RunningOptions,
    Since,
    WaitOptions,
    WaitResult,
    wait_until_provisioned,
    wait_until_running,
    wait_until_stopped,
)
from ._wait_errors import (
    ApprovalRequiredError,
    ClusterWaitTimeoutError,
    DeploymentFailedError,
    DeploymentStoppedError,
    WaitError,
    WaitTimeoutError,
)

__all__ = [
    "DEFAULT_RETRY_STATUSES",
    "UNSET",
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "ApiKey",
    "ApprovalRequiredError",
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
    "ManyOptions",
    "MonitorStatus",
    "NoEventsYetError",
    "NotFoundError",
    "OneShotOptions",
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
    "RunningOptions",
    "RuntimeDesiredStatus",
    "RuntimeStatus",
    "Selector",
    "ServerError",
    "ServiceHealth",
    "Since",
    "StorageStatus",
    "Timeouts",
    "Unset",
    "Until",
    "WaitOptions",
    "WaitError",
    "WaitResult",
    "WaitTimeoutError",
    "__version__",
    "wait_until_provisioned",
    "wait_until_running",
    "wait_until_stopped",
]


def __getattr__(name: str) -> Any:
    if name == "__version__":
        return package_version()
    if name == "set_testing":  # deprecated: its home is feldera_events.testing
        warnings.warn(
            "feldera_events.set_testing is deprecated; use feldera_events.testing.set_testing "
            "(the same switch)",
            DeprecationWarning,
            stacklevel=2,
        )
        return _testing_mode.set_testing
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
