// REST objects as the API answers them (see PROTOCOL.md and /api/openapi.json).

export type Role = 'admin' | 'agent' | 'platform'
export type AgentStatus = 'online' | 'busy' | 'away'
export type ConversationState = 'queued' | 'active' | 'closed'
export type Initiation = 'visitor' | 'transfer'
export type EndReason = 'visitor' | 'agent' | 'system' | 'transferred'
export type Sender = 'visitor' | 'agent' | 'system'
export type MessageKind = 'text' | 'rich' | 'image' | 'file' | 'event'

export interface Page<T> {
  items: T[]
  total: number
}

export interface User {
  id: number
  username: string
  role: Role
  merchant_id: number | null
  nickname: string
  avatar_url: string | null
}

export interface LoginResult {
  token: string
  user: User
}

export interface Agent {
  id: number
  username: string
  nickname: string
  avatar_url: string | null
  role: 'admin' | 'agent'
  max_concurrent: number
  group_ids: number[]
  enabled: boolean
  status: AgentStatus
  active_count: number
}

export interface AgentInput {
  username?: string
  password?: string
  nickname?: string
  avatar_url?: string | null
  max_concurrent?: number
  group_ids?: number[]
  role?: 'admin' | 'agent'
  enabled?: boolean
}

export interface Group {
  id: number
  name: string
  agent_ids: number[]
}

/** GET /monitor and the `monitor.updated` frame: live figures per group. */
export interface MonitorFigures {
  queue_length: number
  longest_wait_seconds: number
  active_conversations: number
  agents_online: number
  agents_busy: number
  agents_away: number
}

/** `group_id` null: visitors who asked for no group, whom every agent serves. */
export interface MonitorGroup extends MonitorFigures {
  group_id: number | null
  name: string | null
}

export interface MonitorSnapshot {
  groups: MonitorGroup[]
  totals: MonitorFigures
  at: string
}

export interface BusinessHours {
  enabled: boolean
  days: number[]
  start: string
  end: string
}

export interface MerchantSettings {
  timezone: string
  auto_close_seconds: number
  grace_seconds: number
  routing_strategy: 'least_loaded' | 'round_robin'
  business_hours: BusinessHours
  typing_preview: boolean
}

export interface Merchant {
  id: number
  name: string
  widget_key: string
  widget_secret: string
}

export interface SummaryCategory {
  id: number
  name: string
}

export interface VisitorInfo {
  id: number
  room?: string
  nickname: string | null
  page_url: string | null
  page_title: string | null
  region: string | null
  online: boolean
  user_agent?: string | null
  ip?: string | null
  created_at?: string
  last_seen_at?: string
}

export interface Summary {
  category_id: number | null
  note: string | null
}

export interface Rating {
  score: number
  comment: string | null
}

export interface LastMessage {
  sender: Sender
  kind: MessageKind
  body: string
  created_at: string
}

export interface Conversation {
  id: number
  room: string
  visitor: VisitorInfo
  group_id: number | null
  agent_id: number | null
  state: ConversationState
  initiation: Initiation
  end_reason: EndReason | null
  valid: boolean
  summary: Summary | null
  rating: Rating | null
  rating_requested?: boolean
  cleared?: boolean
  transferred_from_agent_id?: number | null
  created_at: string
  assigned_at: string | null
  first_response_at: string | null
  closed_at: string | null
  last_message?: LastMessage | null
}

export interface Message {
  id: number
  conversation_id: number
  room: string
  seq: number
  sender: Sender
  agent_id: number | null
  kind: MessageKind
  body: string
  client_id: string | null
  created_at: string
}

export interface OfflineMessage {
  id: number
  content: string
  contact: string | null
  status: 'pending' | 'replied'
  reply: string | null
  created_at: string
  replied_at: string | null
  visitor?: VisitorInfo | null
  room?: string | null
}

/** A canned-reply or knowledge-base category, listed by `sort_order`. */
export interface Category {
  id: number
  name: string
  sort_order: number
}

/** `shared`: the merchant's, kept by admins; `personal`: the caller's own. */
export type CannedScope = 'shared' | 'personal'

export interface CannedReply {
  id: number
  scope: CannedScope
  category_id: number | null
  title: string
  shortcut: string | null
  content: string
  sort_order: number
  created_at: string
  updated_at: string
}

export interface CannedReplyInput {
  scope?: CannedScope
  category_id: number | null
  title: string
  shortcut: string | null
  content: string
  sort_order: number
}

export interface KbArticle {
  id: number
  category_id: number | null
  question: string
  keywords: string[]
  answer: string
  enabled: boolean
  created_at: string
  updated_at: string
}
