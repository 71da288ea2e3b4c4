"""SQLAlchemy 2 typed models of the unified registry.

Natural keys (NIK, KK, region code) are indexed but are not primary keys: a person may
have no NIK yet, two agencies may claim one NIK for two people, and a KK is reissued when
a family splits. Surrogate integer keys keep links stable while those facts are argued.

The models live in one module per area; every one is importable from here.
"""

from hub.db.models.access import (
    ApiClient,
    AuditHead,
    AuditLog,
    AuditSubject,
    Officer,
    OfficerSession,
    SigningKeyRow,
    TrustedDocument,
)
from hub.db.models.base import Base, Id
from hub.db.models.dci import DciCallback, DciInbox, DciMessage, DciSubscription, DciTransaction
from hub.db.models.desk import Referral, ReferralEvent, ServiceCase, WebhookDelivery
from hub.db.models.findings import Finding, RegistryEvent
from hub.db.models.linkage import LinkDecision, MatchKey, MatchModel, NameFrequency, ReviewTask
from hub.db.models.registry import (
    Enrollment,
    Household,
    Person,
    Region,
    VillageCoverage,
    VillageFigure,
)
from hub.db.models.staging import (
    PENDING_SQL,
    Lease,
    SourceRecord,
    StreamState,
    SyncRequest,
    SyncRun,
)

__all__ = [
    "PENDING_SQL",
    "ApiClient",
    "AuditHead",
    "AuditLog",
    "AuditSubject",
    "Base",
    "DciCallback",
    "DciInbox",
    "DciMessage",
    "DciSubscription",
    "DciTransaction",
    "Enrollment",
    "Finding",
    "Household",
    "Id",
    "Lease",
    "LinkDecision",
    "MatchKey",
    "MatchModel",
    "NameFrequency",
    "Officer",
    "OfficerSession",
    "Person",
    "Referral",
    "ReferralEvent",
    "Region",
    "RegistryEvent",
    "ReviewTask",
    "ServiceCase",
    "SigningKeyRow",
    "SourceRecord",
    "StreamState",
    "SyncRequest",
    "SyncRun",
    "TrustedDocument",
    "VillageCoverage",
    "VillageFigure",
    "WebhookDelivery",
]
