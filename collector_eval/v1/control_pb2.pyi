from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SessionState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SESSION_STATE_UNSPECIFIED: _ClassVar[SessionState]
    SESSION_STATE_BUFFERED: _ClassVar[SessionState]
    SESSION_STATE_SCHEDULED: _ClassVar[SessionState]
    SESSION_STATE_JUDGING: _ClassVar[SessionState]
    SESSION_STATE_JUDGED: _ClassVar[SessionState]
SESSION_STATE_UNSPECIFIED: SessionState
SESSION_STATE_BUFFERED: SessionState
SESSION_STATE_SCHEDULED: SessionState
SESSION_STATE_JUDGING: SessionState
SESSION_STATE_JUDGED: SessionState

class SessionRef(_message.Message):
    __slots__ = ("tenant", "session_id")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    session_id: str
    def __init__(self, tenant: _Optional[str] = ..., session_id: _Optional[str] = ...) -> None: ...

class Evaluation(_message.Message):
    __slots__ = ("name", "status", "score", "label", "explanation", "error_type", "attributes", "judge_model", "input_tokens", "output_tokens", "passed")
    class AttributesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    EXPLANATION_FIELD_NUMBER: _ClassVar[int]
    ERROR_TYPE_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    JUDGE_MODEL_FIELD_NUMBER: _ClassVar[int]
    INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    PASSED_FIELD_NUMBER: _ClassVar[int]
    name: str
    status: str
    score: float
    label: str
    explanation: str
    error_type: str
    attributes: _containers.ScalarMap[str, str]
    judge_model: str
    input_tokens: int
    output_tokens: int
    passed: bool
    def __init__(self, name: _Optional[str] = ..., status: _Optional[str] = ..., score: _Optional[float] = ..., label: _Optional[str] = ..., explanation: _Optional[str] = ..., error_type: _Optional[str] = ..., attributes: _Optional[_Mapping[str, str]] = ..., judge_model: _Optional[str] = ..., input_tokens: _Optional[int] = ..., output_tokens: _Optional[int] = ..., passed: _Optional[bool] = ...) -> None: ...

class Verdict(_message.Message):
    __slots__ = ("revision", "evaluations")
    REVISION_FIELD_NUMBER: _ClassVar[int]
    EVALUATIONS_FIELD_NUMBER: _ClassVar[int]
    revision: int
    evaluations: _containers.RepeatedCompositeFieldContainer[Evaluation]
    def __init__(self, revision: _Optional[int] = ..., evaluations: _Optional[_Iterable[_Union[Evaluation, _Mapping]]] = ...) -> None: ...

class Session(_message.Message):
    __slots__ = ("tenant", "session_id", "state", "spans", "bytes", "truncated", "trace_ids", "revision", "trigger", "due_at_unix", "unjudged_spans", "id_attribute", "end_span_id", "ttl_s", "verdicts")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    SPANS_FIELD_NUMBER: _ClassVar[int]
    BYTES_FIELD_NUMBER: _ClassVar[int]
    TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    TRACE_IDS_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    TRIGGER_FIELD_NUMBER: _ClassVar[int]
    DUE_AT_UNIX_FIELD_NUMBER: _ClassVar[int]
    UNJUDGED_SPANS_FIELD_NUMBER: _ClassVar[int]
    ID_ATTRIBUTE_FIELD_NUMBER: _ClassVar[int]
    END_SPAN_ID_FIELD_NUMBER: _ClassVar[int]
    TTL_S_FIELD_NUMBER: _ClassVar[int]
    VERDICTS_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    session_id: str
    state: SessionState
    spans: int
    bytes: int
    truncated: bool
    trace_ids: _containers.RepeatedScalarFieldContainer[str]
    revision: int
    trigger: str
    due_at_unix: float
    unjudged_spans: int
    id_attribute: str
    end_span_id: str
    ttl_s: float
    verdicts: _containers.RepeatedCompositeFieldContainer[Verdict]
    def __init__(self, tenant: _Optional[str] = ..., session_id: _Optional[str] = ..., state: _Optional[_Union[SessionState, str]] = ..., spans: _Optional[int] = ..., bytes: _Optional[int] = ..., truncated: _Optional[bool] = ..., trace_ids: _Optional[_Iterable[str]] = ..., revision: _Optional[int] = ..., trigger: _Optional[str] = ..., due_at_unix: _Optional[float] = ..., unjudged_spans: _Optional[int] = ..., id_attribute: _Optional[str] = ..., end_span_id: _Optional[str] = ..., ttl_s: _Optional[float] = ..., verdicts: _Optional[_Iterable[_Union[Verdict, _Mapping]]] = ...) -> None: ...

class EndSessionRequest(_message.Message):
    __slots__ = ("session",)
    SESSION_FIELD_NUMBER: _ClassVar[int]
    session: SessionRef
    def __init__(self, session: _Optional[_Union[SessionRef, _Mapping]] = ...) -> None: ...

class EndSessionResponse(_message.Message):
    __slots__ = ("session",)
    SESSION_FIELD_NUMBER: _ClassVar[int]
    session: Session
    def __init__(self, session: _Optional[_Union[Session, _Mapping]] = ...) -> None: ...

class GetSessionRequest(_message.Message):
    __slots__ = ("session",)
    SESSION_FIELD_NUMBER: _ClassVar[int]
    session: SessionRef
    def __init__(self, session: _Optional[_Union[SessionRef, _Mapping]] = ...) -> None: ...

class ReevaluateRequest(_message.Message):
    __slots__ = ("session",)
    SESSION_FIELD_NUMBER: _ClassVar[int]
    session: SessionRef
    def __init__(self, session: _Optional[_Union[SessionRef, _Mapping]] = ...) -> None: ...

class ReevaluateResponse(_message.Message):
    __slots__ = ("session", "next_revision")
    SESSION_FIELD_NUMBER: _ClassVar[int]
    NEXT_REVISION_FIELD_NUMBER: _ClassVar[int]
    session: Session
    next_revision: int
    def __init__(self, session: _Optional[_Union[Session, _Mapping]] = ..., next_revision: _Optional[int] = ...) -> None: ...

class ListSessionsRequest(_message.Message):
    __slots__ = ("limit", "page_token", "tenant", "session_id")
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    limit: int
    page_token: str
    tenant: str
    session_id: str
    def __init__(self, limit: _Optional[int] = ..., page_token: _Optional[str] = ..., tenant: _Optional[str] = ..., session_id: _Optional[str] = ...) -> None: ...

class ListSessionsResponse(_message.Message):
    __slots__ = ("sessions", "next_page_token")
    SESSIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    sessions: _containers.RepeatedCompositeFieldContainer[Session]
    next_page_token: str
    def __init__(self, sessions: _Optional[_Iterable[_Union[Session, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...
