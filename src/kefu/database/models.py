"""Imports every table so that metadata (and Alembic) sees them all."""

from kefu.accounts.models import Merchant, MerchantSettings, User
from kefu.agents.models import AgentGroup, AgentState, AgentStatusEvent, Group, Presence, ServerHeartbeat
from kefu.auth.models import AuthToken, LoginFailure, LoginLockout
from kefu.broadcasts.models import Broadcast
from kefu.canned.models import CannedReply, CannedReplyCategory
from kefu.conversations.models import Conversation, ConversationEvent, Message, SummaryCategory, Visitor
from kefu.database.base import Base
from kefu.files.models import Upload
from kefu.kb.models import KbArticle, KbCategory, KbKeyword
from kefu.offline.models import OfflineMessage

__all__ = [
    "AgentGroup",
    "AgentState",
    "AgentStatusEvent",
    "AuthToken",
    "Base",
    "Broadcast",
    "CannedReply",
    "CannedReplyCategory",
    "Conversation",
    "ConversationEvent",
    "Group",
    "KbArticle",
    "KbCategory",
    "KbKeyword",
    "LoginFailure",
    "LoginLockout",
    "Merchant",
    "MerchantSettings",
    "Message",
    "OfflineMessage",
    "Presence",
    "ServerHeartbeat",
    "SummaryCategory",
    "Upload",
    "User",
    "Visitor",
]
