from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AppGoal(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    APP_GOAL_UNSPECIFIED: _ClassVar[AppGoal]
    APP_GOAL_RUN: _ClassVar[AppGoal]
    APP_GOAL_KILL: _ClassVar[AppGoal]

class TaskState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TASK_STATE_UNSPECIFIED: _ClassVar[TaskState]
    TASK_STATE_STAGING: _ClassVar[TaskState]
    TASK_STATE_STARTING: _ClassVar[TaskState]
    TASK_STATE_RUNNING: _ClassVar[TaskState]
    TASK_STATE_KILLING: _ClassVar[TaskState]
    TASK_STATE_FINISHED: _ClassVar[TaskState]
    TASK_STATE_FAILED: _ClassVar[TaskState]
    TASK_STATE_KILLED: _ClassVar[TaskState]
    TASK_STATE_ERROR: _ClassVar[TaskState]
    TASK_STATE_LOST: _ClassVar[TaskState]
    TASK_STATE_DROPPED: _ClassVar[TaskState]
    TASK_STATE_UNREACHABLE: _ClassVar[TaskState]
    TASK_STATE_GONE: _ClassVar[TaskState]
    TASK_STATE_GONE_BY_OPERATOR: _ClassVar[TaskState]
    TASK_STATE_UNKNOWN: _ClassVar[TaskState]

class DiskSourceType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DISK_SOURCE_TYPE_UNSPECIFIED: _ClassVar[DiskSourceType]
    DISK_SOURCE_TYPE_PATH: _ClassVar[DiskSourceType]
    DISK_SOURCE_TYPE_MOUNT: _ClassVar[DiskSourceType]

class FilterType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FILTER_TYPE_UNSPECIFIED: _ClassVar[FilterType]
    FILTER_TYPE_TEXT: _ClassVar[FilterType]
    FILTER_TYPE_SET: _ClassVar[FilterType]
    FILTER_TYPE_SCALAR: _ClassVar[FilterType]
    FILTER_TYPE_RANGES: _ClassVar[FilterType]

class ScalarOp(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SCALAR_OP_UNSPECIFIED: _ClassVar[ScalarOp]
    SCALAR_OP_EQ: _ClassVar[ScalarOp]
    SCALAR_OP_LT: _ClassVar[ScalarOp]
    SCALAR_OP_LE: _ClassVar[ScalarOp]
    SCALAR_OP_GT: _ClassVar[ScalarOp]
    SCALAR_OP_GE: _ClassVar[ScalarOp]

class StrategyType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    STRATEGY_TYPE_UNSPECIFIED: _ClassVar[StrategyType]
    STRATEGY_TYPE_UNIQUE: _ClassVar[StrategyType]
    STRATEGY_TYPE_MUX: _ClassVar[StrategyType]

class VolumeMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VOLUME_MODE_UNSPECIFIED: _ClassVar[VolumeMode]
    VOLUME_MODE_RO: _ClassVar[VolumeMode]
    VOLUME_MODE_RW: _ClassVar[VolumeMode]

class VolumeSourceType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VOLUME_SOURCE_TYPE_UNSPECIFIED: _ClassVar[VolumeSourceType]
    VOLUME_SOURCE_TYPE_DOCKER: _ClassVar[VolumeSourceType]

class IpProtocol(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    IP_PROTOCOL_UNSPECIFIED: _ClassVar[IpProtocol]
    IP_PROTOCOL_IPV4: _ClassVar[IpProtocol]
    IP_PROTOCOL_IPV6: _ClassVar[IpProtocol]

class PortProtocol(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PORT_PROTOCOL_UNSPECIFIED: _ClassVar[PortProtocol]
    PORT_PROTOCOL_TCP: _ClassVar[PortProtocol]
    PORT_PROTOCOL_UDP: _ClassVar[PortProtocol]

class HealthCheckType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    HEALTH_CHECK_TYPE_UNSPECIFIED: _ClassVar[HealthCheckType]
    HEALTH_CHECK_TYPE_TCP: _ClassVar[HealthCheckType]
    HEALTH_CHECK_TYPE_HTTP: _ClassVar[HealthCheckType]
    HEALTH_CHECK_TYPE_COMMAND: _ClassVar[HealthCheckType]

class HttpScheme(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    HTTP_SCHEME_UNSPECIFIED: _ClassVar[HttpScheme]
    HTTP_SCHEME_HTTP: _ClassVar[HttpScheme]
    HTTP_SCHEME_HTTPS: _ClassVar[HttpScheme]
APP_GOAL_UNSPECIFIED: AppGoal
APP_GOAL_RUN: AppGoal
APP_GOAL_KILL: AppGoal
TASK_STATE_UNSPECIFIED: TaskState
TASK_STATE_STAGING: TaskState
TASK_STATE_STARTING: TaskState
TASK_STATE_RUNNING: TaskState
TASK_STATE_KILLING: TaskState
TASK_STATE_FINISHED: TaskState
TASK_STATE_FAILED: TaskState
TASK_STATE_KILLED: TaskState
TASK_STATE_ERROR: TaskState
TASK_STATE_LOST: TaskState
TASK_STATE_DROPPED: TaskState
TASK_STATE_UNREACHABLE: TaskState
TASK_STATE_GONE: TaskState
TASK_STATE_GONE_BY_OPERATOR: TaskState
TASK_STATE_UNKNOWN: TaskState
DISK_SOURCE_TYPE_UNSPECIFIED: DiskSourceType
DISK_SOURCE_TYPE_PATH: DiskSourceType
DISK_SOURCE_TYPE_MOUNT: DiskSourceType
FILTER_TYPE_UNSPECIFIED: FilterType
FILTER_TYPE_TEXT: FilterType
FILTER_TYPE_SET: FilterType
FILTER_TYPE_SCALAR: FilterType
FILTER_TYPE_RANGES: FilterType
SCALAR_OP_UNSPECIFIED: ScalarOp
SCALAR_OP_EQ: ScalarOp
SCALAR_OP_LT: ScalarOp
SCALAR_OP_LE: ScalarOp
SCALAR_OP_GT: ScalarOp
SCALAR_OP_GE: ScalarOp
STRATEGY_TYPE_UNSPECIFIED: StrategyType
STRATEGY_TYPE_UNIQUE: StrategyType
STRATEGY_TYPE_MUX: StrategyType
VOLUME_MODE_UNSPECIFIED: VolumeMode
VOLUME_MODE_RO: VolumeMode
VOLUME_MODE_RW: VolumeMode
VOLUME_SOURCE_TYPE_UNSPECIFIED: VolumeSourceType
VOLUME_SOURCE_TYPE_DOCKER: VolumeSourceType
IP_PROTOCOL_UNSPECIFIED: IpProtocol
IP_PROTOCOL_IPV4: IpProtocol
IP_PROTOCOL_IPV6: IpProtocol
PORT_PROTOCOL_UNSPECIFIED: PortProtocol
PORT_PROTOCOL_TCP: PortProtocol
PORT_PROTOCOL_UDP: PortProtocol
HEALTH_CHECK_TYPE_UNSPECIFIED: HealthCheckType
HEALTH_CHECK_TYPE_TCP: HealthCheckType
HEALTH_CHECK_TYPE_HTTP: HealthCheckType
HEALTH_CHECK_TYPE_COMMAND: HealthCheckType
HTTP_SCHEME_UNSPECIFIED: HttpScheme
HTTP_SCHEME_HTTP: HttpScheme
HTTP_SCHEME_HTTPS: HttpScheme

class DeployRequest(_message.Message):
    __slots__ = ("apps",)
    APPS_FIELD_NUMBER: _ClassVar[int]
    apps: _containers.RepeatedCompositeFieldContainer[App]
    def __init__(self, apps: _Optional[_Iterable[_Union[App, _Mapping]]] = ...) -> None: ...

class DeployResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[DeployResult]
    def __init__(self, results: _Optional[_Iterable[_Union[DeployResult, _Mapping]]] = ...) -> None: ...

class DeployResult(_message.Message):
    __slots__ = ("name", "version", "created", "message", "warnings")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    WARNINGS_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: int
    created: bool
    message: str
    warnings: _containers.RepeatedCompositeFieldContainer[Warning]
    def __init__(self, name: _Optional[str] = ..., version: _Optional[int] = ..., created: _Optional[bool] = ..., message: _Optional[str] = ..., warnings: _Optional[_Iterable[_Union[Warning, _Mapping]]] = ...) -> None: ...

class Warning(_message.Message):
    __slots__ = ("field", "message")
    FIELD_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    field: str
    message: str
    def __init__(self, field: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class KillRequest(_message.Message):
    __slots__ = ("name", "expected_version")
    NAME_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    name: str
    expected_version: int
    def __init__(self, name: _Optional[str] = ..., expected_version: _Optional[int] = ...) -> None: ...

class KillResponse(_message.Message):
    __slots__ = ("name", "version", "message")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: int
    message: str
    def __init__(self, name: _Optional[str] = ..., version: _Optional[int] = ..., message: _Optional[str] = ...) -> None: ...

class UpdateRequest(_message.Message):
    __slots__ = ("app", "expected_version")
    APP_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    app: App
    expected_version: int
    def __init__(self, app: _Optional[_Union[App, _Mapping]] = ..., expected_version: _Optional[int] = ...) -> None: ...

class UpdateResponse(_message.Message):
    __slots__ = ("name", "version", "changed", "message", "warnings")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    CHANGED_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    WARNINGS_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: int
    changed: bool
    message: str
    warnings: _containers.RepeatedCompositeFieldContainer[Warning]
    def __init__(self, name: _Optional[str] = ..., version: _Optional[int] = ..., changed: _Optional[bool] = ..., message: _Optional[str] = ..., warnings: _Optional[_Iterable[_Union[Warning, _Mapping]]] = ...) -> None: ...

class StateRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ListAllRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListAllResponse(_message.Message):
    __slots__ = ("tasks", "next_page_token")
    TASKS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    tasks: _containers.RepeatedCompositeFieldContainer[Task]
    next_page_token: str
    def __init__(self, tasks: _Optional[_Iterable[_Union[Task, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class WatchTasksRequest(_message.Message):
    __slots__ = ("app", "after_revision", "include_status", "include_cluster")
    APP_FIELD_NUMBER: _ClassVar[int]
    AFTER_REVISION_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_STATUS_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_CLUSTER_FIELD_NUMBER: _ClassVar[int]
    app: str
    after_revision: int
    include_status: bool
    include_cluster: bool
    def __init__(self, app: _Optional[str] = ..., after_revision: _Optional[int] = ..., include_status: _Optional[bool] = ..., include_cluster: _Optional[bool] = ...) -> None: ...

class AppState(_message.Message):
    __slots__ = ("spec", "version", "goal", "tasks", "status", "state", "running", "created_ms", "updated_ms")
    SPEC_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    GOAL_FIELD_NUMBER: _ClassVar[int]
    TASKS_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    RUNNING_FIELD_NUMBER: _ClassVar[int]
    CREATED_MS_FIELD_NUMBER: _ClassVar[int]
    UPDATED_MS_FIELD_NUMBER: _ClassVar[int]
    spec: App
    version: int
    goal: AppGoal
    tasks: _containers.RepeatedCompositeFieldContainer[Task]
    status: AppStatus
    state: str
    running: int
    created_ms: int
    updated_ms: int
    def __init__(self, spec: _Optional[_Union[App, _Mapping]] = ..., version: _Optional[int] = ..., goal: _Optional[_Union[AppGoal, str]] = ..., tasks: _Optional[_Iterable[_Union[Task, _Mapping]]] = ..., status: _Optional[_Union[AppStatus, _Mapping]] = ..., state: _Optional[str] = ..., running: _Optional[int] = ..., created_ms: _Optional[int] = ..., updated_ms: _Optional[int] = ...) -> None: ...

class AppStatus(_message.Message):
    __slots__ = ("waiting", "backoff_until_ms", "consecutive_failures", "rejections", "message", "updated_ms", "last_terminations", "recent_terminations")
    class RejectionsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    class LastTerminationsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: int
        value: TaskTermination
        def __init__(self, key: _Optional[int] = ..., value: _Optional[_Union[TaskTermination, _Mapping]] = ...) -> None: ...
    WAITING_FIELD_NUMBER: _ClassVar[int]
    BACKOFF_UNTIL_MS_FIELD_NUMBER: _ClassVar[int]
    CONSECUTIVE_FAILURES_FIELD_NUMBER: _ClassVar[int]
    REJECTIONS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    UPDATED_MS_FIELD_NUMBER: _ClassVar[int]
    LAST_TERMINATIONS_FIELD_NUMBER: _ClassVar[int]
    RECENT_TERMINATIONS_FIELD_NUMBER: _ClassVar[int]
    waiting: int
    backoff_until_ms: int
    consecutive_failures: int
    rejections: _containers.ScalarMap[str, int]
    message: str
    updated_ms: int
    last_terminations: _containers.MessageMap[int, TaskTermination]
    recent_terminations: _containers.RepeatedCompositeFieldContainer[TaskTermination]
    def __init__(self, waiting: _Optional[int] = ..., backoff_until_ms: _Optional[int] = ..., consecutive_failures: _Optional[int] = ..., rejections: _Optional[_Mapping[str, int]] = ..., message: _Optional[str] = ..., updated_ms: _Optional[int] = ..., last_terminations: _Optional[_Mapping[int, TaskTermination]] = ..., recent_terminations: _Optional[_Iterable[_Union[TaskTermination, _Mapping]]] = ...) -> None: ...

class TaskTermination(_message.Message):
    __slots__ = ("task_id", "instance", "app_version", "state", "reason", "source", "message", "agent_id", "hostname", "at_ms")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    INSTANCE_FIELD_NUMBER: _ClassVar[int]
    APP_VERSION_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    HOSTNAME_FIELD_NUMBER: _ClassVar[int]
    AT_MS_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    instance: int
    app_version: int
    state: TaskState
    reason: str
    source: str
    message: str
    agent_id: str
    hostname: str
    at_ms: int
    def __init__(self, task_id: _Optional[str] = ..., instance: _Optional[int] = ..., app_version: _Optional[int] = ..., state: _Optional[_Union[TaskState, str]] = ..., reason: _Optional[str] = ..., source: _Optional[str] = ..., message: _Optional[str] = ..., agent_id: _Optional[str] = ..., hostname: _Optional[str] = ..., at_ms: _Optional[int] = ...) -> None: ...

class Task(_message.Message):
    __slots__ = ("id", "app", "instance", "state", "agent_id", "hostname", "ips", "healthy", "version", "message", "created_ms", "updated_ms", "ports")
    ID_FIELD_NUMBER: _ClassVar[int]
    APP_FIELD_NUMBER: _ClassVar[int]
    INSTANCE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    HOSTNAME_FIELD_NUMBER: _ClassVar[int]
    IPS_FIELD_NUMBER: _ClassVar[int]
    HEALTHY_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    CREATED_MS_FIELD_NUMBER: _ClassVar[int]
    UPDATED_MS_FIELD_NUMBER: _ClassVar[int]
    PORTS_FIELD_NUMBER: _ClassVar[int]
    id: str
    app: str
    instance: int
    state: TaskState
    agent_id: str
    hostname: str
    ips: _containers.RepeatedScalarFieldContainer[str]
    healthy: bool
    version: int
    message: str
    created_ms: int
    updated_ms: int
    ports: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, id: _Optional[str] = ..., app: _Optional[str] = ..., instance: _Optional[int] = ..., state: _Optional[_Union[TaskState, str]] = ..., agent_id: _Optional[str] = ..., hostname: _Optional[str] = ..., ips: _Optional[_Iterable[str]] = ..., healthy: _Optional[bool] = ..., version: _Optional[int] = ..., message: _Optional[str] = ..., created_ms: _Optional[int] = ..., updated_ms: _Optional[int] = ..., ports: _Optional[_Iterable[int]] = ...) -> None: ...

class TaskEvent(_message.Message):
    __slots__ = ("revision", "app", "task_id", "instance", "state", "healthy", "agent_id", "hostname", "message", "timestamp_ms", "status", "cluster")
    REVISION_FIELD_NUMBER: _ClassVar[int]
    APP_FIELD_NUMBER: _ClassVar[int]
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    INSTANCE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    HEALTHY_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    HOSTNAME_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_MS_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CLUSTER_FIELD_NUMBER: _ClassVar[int]
    revision: int
    app: str
    task_id: str
    instance: int
    state: TaskState
    healthy: bool
    agent_id: str
    hostname: str
    message: str
    timestamp_ms: int
    status: AppStatus
    cluster: ClusterInfo
    def __init__(self, revision: _Optional[int] = ..., app: _Optional[str] = ..., task_id: _Optional[str] = ..., instance: _Optional[int] = ..., state: _Optional[_Union[TaskState, str]] = ..., healthy: _Optional[bool] = ..., agent_id: _Optional[str] = ..., hostname: _Optional[str] = ..., message: _Optional[str] = ..., timestamp_ms: _Optional[int] = ..., status: _Optional[_Union[AppStatus, _Mapping]] = ..., cluster: _Optional[_Union[ClusterInfo, _Mapping]] = ...) -> None: ...

class ClusterInfo(_message.Message):
    __slots__ = ("leader_id", "leader_address", "epoch", "subscribed", "framework_id")
    LEADER_ID_FIELD_NUMBER: _ClassVar[int]
    LEADER_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    SUBSCRIBED_FIELD_NUMBER: _ClassVar[int]
    FRAMEWORK_ID_FIELD_NUMBER: _ClassVar[int]
    leader_id: str
    leader_address: str
    epoch: int
    subscribed: bool
    framework_id: str
    def __init__(self, leader_id: _Optional[str] = ..., leader_address: _Optional[str] = ..., epoch: _Optional[int] = ..., subscribed: _Optional[bool] = ..., framework_id: _Optional[str] = ...) -> None: ...

class App(_message.Message):
    __slots__ = ("name", "resources", "filters", "instances", "strategy", "command", "container", "healthcheck", "labels", "retry", "executor", "upgrade")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    RESOURCES_FIELD_NUMBER: _ClassVar[int]
    FILTERS_FIELD_NUMBER: _ClassVar[int]
    INSTANCES_FIELD_NUMBER: _ClassVar[int]
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    CONTAINER_FIELD_NUMBER: _ClassVar[int]
    HEALTHCHECK_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    RETRY_FIELD_NUMBER: _ClassVar[int]
    EXECUTOR_FIELD_NUMBER: _ClassVar[int]
    UPGRADE_FIELD_NUMBER: _ClassVar[int]
    name: str
    resources: Resources
    filters: _containers.RepeatedCompositeFieldContainer[Filter]
    instances: int
    strategy: Strategy
    command: Command
    container: Container
    healthcheck: HealthCheck
    labels: _containers.ScalarMap[str, str]
    retry: Retry
    executor: Executor
    upgrade: Upgrade
    def __init__(self, name: _Optional[str] = ..., resources: _Optional[_Union[Resources, _Mapping]] = ..., filters: _Optional[_Iterable[_Union[Filter, _Mapping]]] = ..., instances: _Optional[int] = ..., strategy: _Optional[_Union[Strategy, _Mapping]] = ..., command: _Optional[_Union[Command, _Mapping]] = ..., container: _Optional[_Union[Container, _Mapping]] = ..., healthcheck: _Optional[_Union[HealthCheck, _Mapping]] = ..., labels: _Optional[_Mapping[str, str]] = ..., retry: _Optional[_Union[Retry, _Mapping]] = ..., executor: _Optional[_Union[Executor, _Mapping]] = ..., upgrade: _Optional[_Union[Upgrade, _Mapping]] = ...) -> None: ...

class Upgrade(_message.Message):
    __slots__ = ("minimum_ready_share", "max_surge")
    MINIMUM_READY_SHARE_FIELD_NUMBER: _ClassVar[int]
    MAX_SURGE_FIELD_NUMBER: _ClassVar[int]
    minimum_ready_share: float
    max_surge: int
    def __init__(self, minimum_ready_share: _Optional[float] = ..., max_surge: _Optional[int] = ...) -> None: ...

class Resources(_message.Message):
    __slots__ = ("cpu", "mem", "disk", "ports", "role", "reserved_only")
    CPU_FIELD_NUMBER: _ClassVar[int]
    MEM_FIELD_NUMBER: _ClassVar[int]
    DISK_FIELD_NUMBER: _ClassVar[int]
    PORTS_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    RESERVED_ONLY_FIELD_NUMBER: _ClassVar[int]
    cpu: float
    mem: float
    disk: Disk
    ports: int
    role: str
    reserved_only: bool
    def __init__(self, cpu: _Optional[float] = ..., mem: _Optional[float] = ..., disk: _Optional[_Union[Disk, _Mapping]] = ..., ports: _Optional[int] = ..., role: _Optional[str] = ..., reserved_only: _Optional[bool] = ...) -> None: ...

class Disk(_message.Message):
    __slots__ = ("size", "source")
    SIZE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    size: float
    source: DiskSource
    def __init__(self, size: _Optional[float] = ..., source: _Optional[_Union[DiskSource, _Mapping]] = ...) -> None: ...

class DiskSource(_message.Message):
    __slots__ = ("type", "path", "mount")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    MOUNT_FIELD_NUMBER: _ClassVar[int]
    type: DiskSourceType
    path: str
    mount: str
    def __init__(self, type: _Optional[_Union[DiskSourceType, str]] = ..., path: _Optional[str] = ..., mount: _Optional[str] = ...) -> None: ...

class Filter(_message.Message):
    __slots__ = ("type", "value", "attribute", "op")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTE_FIELD_NUMBER: _ClassVar[int]
    OP_FIELD_NUMBER: _ClassVar[int]
    type: FilterType
    value: _containers.RepeatedScalarFieldContainer[str]
    attribute: str
    op: ScalarOp
    def __init__(self, type: _Optional[_Union[FilterType, str]] = ..., value: _Optional[_Iterable[str]] = ..., attribute: _Optional[str] = ..., op: _Optional[_Union[ScalarOp, str]] = ...) -> None: ...

class Strategy(_message.Message):
    __slots__ = ("type", "effort")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    EFFORT_FIELD_NUMBER: _ClassVar[int]
    type: StrategyType
    effort: str
    def __init__(self, type: _Optional[_Union[StrategyType, str]] = ..., effort: _Optional[str] = ...) -> None: ...

class Command(_message.Message):
    __slots__ = ("cmd", "environment", "uris")
    class EnvironmentEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    CMD_FIELD_NUMBER: _ClassVar[int]
    ENVIRONMENT_FIELD_NUMBER: _ClassVar[int]
    URIS_FIELD_NUMBER: _ClassVar[int]
    cmd: str
    environment: _containers.ScalarMap[str, str]
    uris: _containers.RepeatedCompositeFieldContainer[Uri]
    def __init__(self, cmd: _Optional[str] = ..., environment: _Optional[_Mapping[str, str]] = ..., uris: _Optional[_Iterable[_Union[Uri, _Mapping]]] = ...) -> None: ...

class Uri(_message.Message):
    __slots__ = ("uri", "extract", "execute", "cache", "output_file")
    URI_FIELD_NUMBER: _ClassVar[int]
    EXTRACT_FIELD_NUMBER: _ClassVar[int]
    EXECUTE_FIELD_NUMBER: _ClassVar[int]
    CACHE_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FILE_FIELD_NUMBER: _ClassVar[int]
    uri: str
    extract: bool
    execute: bool
    cache: bool
    output_file: str
    def __init__(self, uri: _Optional[str] = ..., extract: _Optional[bool] = ..., execute: _Optional[bool] = ..., cache: _Optional[bool] = ..., output_file: _Optional[str] = ...) -> None: ...

class Container(_message.Message):
    __slots__ = ("image", "volume", "network", "type", "tag")
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    VOLUME_FIELD_NUMBER: _ClassVar[int]
    NETWORK_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    TAG_FIELD_NUMBER: _ClassVar[int]
    image: str
    volume: _containers.RepeatedCompositeFieldContainer[Volume]
    network: _containers.RepeatedCompositeFieldContainer[Network]
    type: str
    tag: str
    def __init__(self, image: _Optional[str] = ..., volume: _Optional[_Iterable[_Union[Volume, _Mapping]]] = ..., network: _Optional[_Iterable[_Union[Network, _Mapping]]] = ..., type: _Optional[str] = ..., tag: _Optional[str] = ...) -> None: ...

class Volume(_message.Message):
    __slots__ = ("container_path", "host_path", "mode", "source")
    CONTAINER_PATH_FIELD_NUMBER: _ClassVar[int]
    HOST_PATH_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    container_path: str
    host_path: str
    mode: VolumeMode
    source: VolumeSource
    def __init__(self, container_path: _Optional[str] = ..., host_path: _Optional[str] = ..., mode: _Optional[_Union[VolumeMode, str]] = ..., source: _Optional[_Union[VolumeSource, _Mapping]] = ...) -> None: ...

class VolumeSource(_message.Message):
    __slots__ = ("type", "docker_volume")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    DOCKER_VOLUME_FIELD_NUMBER: _ClassVar[int]
    type: VolumeSourceType
    docker_volume: DockerVolume
    def __init__(self, type: _Optional[_Union[VolumeSourceType, str]] = ..., docker_volume: _Optional[_Union[DockerVolume, _Mapping]] = ...) -> None: ...

class DockerVolume(_message.Message):
    __slots__ = ("driver", "name", "driveropts")
    DRIVER_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DRIVEROPTS_FIELD_NUMBER: _ClassVar[int]
    driver: str
    name: str
    driveropts: _containers.RepeatedCompositeFieldContainer[DriverOpt]
    def __init__(self, driver: _Optional[str] = ..., name: _Optional[str] = ..., driveropts: _Optional[_Iterable[_Union[DriverOpt, _Mapping]]] = ...) -> None: ...

class DriverOpt(_message.Message):
    __slots__ = ("text", "map")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    MAP_FIELD_NUMBER: _ClassVar[int]
    text: str
    map: StringMap
    def __init__(self, text: _Optional[str] = ..., map: _Optional[_Union[StringMap, _Mapping]] = ...) -> None: ...

class StringMap(_message.Message):
    __slots__ = ("entries",)
    class EntriesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.ScalarMap[str, str]
    def __init__(self, entries: _Optional[_Mapping[str, str]] = ...) -> None: ...

class Network(_message.Message):
    __slots__ = ("name", "ipaddress", "group", "labels", "port_mapping")
    NAME_FIELD_NUMBER: _ClassVar[int]
    IPADDRESS_FIELD_NUMBER: _ClassVar[int]
    GROUP_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    PORT_MAPPING_FIELD_NUMBER: _ClassVar[int]
    name: str
    ipaddress: _containers.RepeatedCompositeFieldContainer[IpAddress]
    group: _containers.RepeatedScalarFieldContainer[str]
    labels: _containers.RepeatedCompositeFieldContainer[StringMap]
    port_mapping: _containers.RepeatedCompositeFieldContainer[PortMapping]
    def __init__(self, name: _Optional[str] = ..., ipaddress: _Optional[_Iterable[_Union[IpAddress, _Mapping]]] = ..., group: _Optional[_Iterable[str]] = ..., labels: _Optional[_Iterable[_Union[StringMap, _Mapping]]] = ..., port_mapping: _Optional[_Iterable[_Union[PortMapping, _Mapping]]] = ...) -> None: ...

class IpAddress(_message.Message):
    __slots__ = ("group", "labels", "ip", "protocol")
    GROUP_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    IP_FIELD_NUMBER: _ClassVar[int]
    PROTOCOL_FIELD_NUMBER: _ClassVar[int]
    group: _containers.RepeatedScalarFieldContainer[str]
    labels: _containers.RepeatedCompositeFieldContainer[StringMap]
    ip: str
    protocol: IpProtocol
    def __init__(self, group: _Optional[_Iterable[str]] = ..., labels: _Optional[_Iterable[_Union[StringMap, _Mapping]]] = ..., ip: _Optional[str] = ..., protocol: _Optional[_Union[IpProtocol, str]] = ...) -> None: ...

class PortMapping(_message.Message):
    __slots__ = ("host_port", "container_port", "protocol")
    HOST_PORT_FIELD_NUMBER: _ClassVar[int]
    CONTAINER_PORT_FIELD_NUMBER: _ClassVar[int]
    PROTOCOL_FIELD_NUMBER: _ClassVar[int]
    host_port: int
    container_port: int
    protocol: PortProtocol
    def __init__(self, host_port: _Optional[int] = ..., container_port: _Optional[int] = ..., protocol: _Optional[_Union[PortProtocol, str]] = ...) -> None: ...

class HealthCheck(_message.Message):
    __slots__ = ("endpoint", "type", "tcp", "http", "command", "delay", "interval", "timeout", "graceperiod", "fails", "port_index")
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    TCP_FIELD_NUMBER: _ClassVar[int]
    HTTP_FIELD_NUMBER: _ClassVar[int]
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    DELAY_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    GRACEPERIOD_FIELD_NUMBER: _ClassVar[int]
    FAILS_FIELD_NUMBER: _ClassVar[int]
    PORT_INDEX_FIELD_NUMBER: _ClassVar[int]
    endpoint: str
    type: HealthCheckType
    tcp: TcpCheck
    http: HttpCheck
    command: Command
    delay: float
    interval: float
    timeout: float
    graceperiod: float
    fails: int
    port_index: int
    def __init__(self, endpoint: _Optional[str] = ..., type: _Optional[_Union[HealthCheckType, str]] = ..., tcp: _Optional[_Union[TcpCheck, _Mapping]] = ..., http: _Optional[_Union[HttpCheck, _Mapping]] = ..., command: _Optional[_Union[Command, _Mapping]] = ..., delay: _Optional[float] = ..., interval: _Optional[float] = ..., timeout: _Optional[float] = ..., graceperiod: _Optional[float] = ..., fails: _Optional[int] = ..., port_index: _Optional[int] = ...) -> None: ...

class TcpCheck(_message.Message):
    __slots__ = ("port", "port_index")
    PORT_FIELD_NUMBER: _ClassVar[int]
    PORT_INDEX_FIELD_NUMBER: _ClassVar[int]
    port: int
    port_index: int
    def __init__(self, port: _Optional[int] = ..., port_index: _Optional[int] = ...) -> None: ...

class HttpCheck(_message.Message):
    __slots__ = ("port", "path", "scheme", "statuses", "port_index")
    PORT_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    SCHEME_FIELD_NUMBER: _ClassVar[int]
    STATUSES_FIELD_NUMBER: _ClassVar[int]
    PORT_INDEX_FIELD_NUMBER: _ClassVar[int]
    port: int
    path: str
    scheme: HttpScheme
    statuses: _containers.RepeatedScalarFieldContainer[int]
    port_index: int
    def __init__(self, port: _Optional[int] = ..., path: _Optional[str] = ..., scheme: _Optional[_Union[HttpScheme, str]] = ..., statuses: _Optional[_Iterable[int]] = ..., port_index: _Optional[int] = ...) -> None: ...

class Retry(_message.Message):
    __slots__ = ("time", "exp_backoff", "total_retries")
    TIME_FIELD_NUMBER: _ClassVar[int]
    EXP_BACKOFF_FIELD_NUMBER: _ClassVar[int]
    TOTAL_RETRIES_FIELD_NUMBER: _ClassVar[int]
    time: float
    exp_backoff: bool
    total_retries: int
    def __init__(self, time: _Optional[float] = ..., exp_backoff: _Optional[bool] = ..., total_retries: _Optional[int] = ...) -> None: ...

class Executor(_message.Message):
    __slots__ = ("name", "cmd", "shell", "uris", "environment")
    class EnvironmentEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    CMD_FIELD_NUMBER: _ClassVar[int]
    SHELL_FIELD_NUMBER: _ClassVar[int]
    URIS_FIELD_NUMBER: _ClassVar[int]
    ENVIRONMENT_FIELD_NUMBER: _ClassVar[int]
    name: str
    cmd: str
    shell: bool
    uris: _containers.RepeatedCompositeFieldContainer[Uri]
    environment: _containers.ScalarMap[str, str]
    def __init__(self, name: _Optional[str] = ..., cmd: _Optional[str] = ..., shell: _Optional[bool] = ..., uris: _Optional[_Iterable[_Union[Uri, _Mapping]]] = ..., environment: _Optional[_Mapping[str, str]] = ...) -> None: ...
