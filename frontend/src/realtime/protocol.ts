// WebSocket frames, mirroring src/kefu/realtime/protocol.py.
import type { AgentStatus, Conversation, Message, MessageKind, MonitorSnapshot, Summary } from '@/api/types'

// --- agent → server
export type AgentClientFrame =
  | { type: 'status.set'; status: AgentStatus }
  | { type: 'message.send'; conversation_id: number; client_id: string; kind: MessageKind; body: string }
  | { type: 'conversation.accept'; group_id?: number | null }
  | { type: 'conversation.transfer'; conversation_id: number; to_agent_id: number }
  | { type: 'conversation.close'; conversation_id: number }
  | { type: 'conversation.summary'; conversation_id: number; category_id: number; note: string }
  | { type: 'conversation.clear'; conversation_id: number }
  | { type: 'rating.request'; conversation_id: number }
  | { type: 'resume'; conversation_id: number; last_seq: number }
  | { type: 'monitor.subscribe' }
  | { type: 'monitor.unsubscribe' }
  | { type: 'ping' }
  | { type: 'sync' }

export interface QueueLength {
  group_id: number | null
  length: number
  // The merchant's count of queue changes: frames of several servers may come out of order,
  // the highest version is the newest.
  queue_version: number
}

// --- server → agent
export type AgentServerFrame =
  | {
      type: 'hello'
      agent: { id: number; nickname: string; status: AgentStatus; [key: string]: unknown }
      conversations: Conversation[]
      queues: QueueLength[]
      queue_version: number
    }
  | { type: 'status.changed'; status: AgentStatus }
  | { type: 'message.new'; message: Message }
  | { type: 'message.ack'; client_id: string; id: number; seq: number; conversation_id: number; created_at: string }
  | { type: 'conversation.assigned'; conversation: Conversation }
  | { type: 'conversation.transferred'; conversation_id: number; to_agent_id: number }
  | { type: 'conversation.closed'; conversation_id: number; reason: string }
  | { type: 'conversation.summarized'; conversation_id: number; summary: Summary }
  | { type: 'conversation.cleared'; conversation_id: number }
  | { type: 'visitor.typing'; conversation_id: number; text: string }
  | { type: 'visitor.presence'; conversation_id: number; online: boolean }
  | ({ type: 'queue.updated' } & QueueLength)
  | { type: 'rating.received'; conversation_id: number; score: number; comment?: string | null }
  | { type: 'broadcast.new'; id: number; title: string; body: string; sender: string }
  | ({ type: 'monitor.updated' } & MonitorSnapshot)
  | { type: 'error'; code: string; message: string; ref?: string | null }
  | { type: 'pong' }
  | { type: 'resync'; reason: 'reconnected' | 'missed' | 'server_lost' }
