// The agent's live state: status, queue, conversations and their messages, fed by /ws/agent.
import { defineStore } from 'pinia'
import { computed, reactive, ref } from 'vue'
import { ElMessage, ElNotification } from 'element-plus'
import { api, sessionEnded } from '@/api/client'
import type { AgentStatus, Conversation, Message, MessageKind, Summary } from '@/api/types'
import type { AgentClientFrame, AgentServerFrame } from '@/realtime/protocol'
import { ReconnectingSocket, socketUrl, type SocketState } from '@/realtime/socket'
import { t } from '@/i18n'
import { notifyNewMessage, notifyNewVisitor } from './notify'

export type DeliveryState = 'sending' | 'sent' | 'failed'

/** A message on screen: a stored one, or one of ours still waiting for its ack. */
export interface ChatMessage extends Omit<Message, 'id' | 'seq'> {
  id: number | null
  seq: number | null
  delivery: DeliveryState
}

export interface ConversationView {
  conversation: Conversation
  messages: ChatMessage[]
  loaded: boolean
  loadingOlder: boolean
  hasOlder: boolean
  unread: number
  typing: string
  /** When the visitor's oldest unanswered message arrived (for "waiting" times), or null. */
  waitingSince: string | null
  lastActivity: string
}

const PAGE = 30
const MAX_SEQ = 2_147_483_647

function newClientId(): string {
  if (crypto.randomUUID) return crypto.randomUUID()
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 12)}`
}

function toChat(message: Message): ChatMessage {
  return { ...message, delivery: 'sent' }
}

export const useWorkspace = defineStore('workspace', () => {
  const status = ref<AgentStatus>('away')
  const connection = ref<SocketState>('closed')
  const queues = reactive<Record<string, number>>({})
  // The queue version each length is as new as (groups absent: the last hello's).
  let queueVersions: Record<string, number> = {}
  let helloQueueVersion = 0
  const views = reactive<Record<number, ConversationView>>({})
  const selectedId = ref<number | null>(null)
  const agentId = ref<number | null>(null)
  // Colleagues' nicknames, for messages a colleague sent before a transfer.
  const agentNames = reactive<Record<number, string>>({})
  let socket: ReconnectingSocket<AgentServerFrame, AgentClientFrame> | null = null
  let helloSeen = false
  // Pages that want this socket's frames too (the admin's group monitor).
  const listeners = new Set<(frame: AgentServerFrame) => void>()

  const queueLength = computed(() => Object.values(queues).reduce((sum, n) => sum + n, 0))
  const list = computed(() =>
    Object.values(views).sort((a, b) => {
      const openA = a.conversation.state !== 'closed' ? 1 : 0
      const openB = b.conversation.state !== 'closed' ? 1 : 0
      if (openA !== openB) return openB - openA
      return b.lastActivity.localeCompare(a.lastActivity)
    }),
  )
  const selected = computed(() => (selectedId.value != null ? views[selectedId.value] ?? null : null))
  const totalUnread = computed(() => Object.values(views).reduce((sum, v) => sum + v.unread, 0))

  function viewOf(conversation: Conversation): ConversationView {
    const existing = views[conversation.id]
    if (existing) {
      existing.conversation = conversation
      return existing
    }
    const last = conversation.last_message
    const view: ConversationView = {
      conversation,
      messages: [],
      loaded: false,
      loadingOlder: false,
      hasOlder: true,
      unread: 0,
      typing: '',
      waitingSince: last && last.sender === 'visitor' ? last.created_at : null,
      lastActivity: last?.created_at ?? conversation.assigned_at ?? conversation.created_at,
    }
    views[conversation.id] = view
    return views[conversation.id]
  }

  async function loadAgentNames(): Promise<void> {
    try {
      const page = await api.get<{ items: { id: number; nickname: string }[] }>('/agents', { limit: 200 })
      for (const agent of page.items) agentNames[agent.id] = agent.nickname
    } catch {
      // Names are a nicety: messages fall back to "colleague".
    }
  }

  function connect(id: number): void {
    agentId.value = id
    if (socket) return
    void loadAgentNames()
    socket = new ReconnectingSocket<AgentServerFrame, AgentClientFrame>(() => socketUrl('/ws/agent'), {
      onFrame: (frame) => {
        handle(frame)
        for (const listener of listeners) listener(frame)
      },
      onState: (state) => (connection.value = state),
      onRefused: () => {
        disconnect()
        sessionEnded()
      },
    })
    socket.connect()
  }

  function disconnect(): void {
    socket?.close()
    socket = null
    helloSeen = false
    for (const key of Object.keys(views)) delete views[Number(key)]
    for (const key of Object.keys(queues)) delete queues[key]
    selectedId.value = null
    status.value = 'away'
  }

  function send(frame: AgentClientFrame): boolean {
    if (socket?.send(frame)) return true
    ElMessage.warning(t('workspace.notConnected'))
    return false
  }

  /** Sends a frame if the socket is open, silently: for frames that `hello` repeats anyway. */
  function sendIfOpen(frame: AgentClientFrame): boolean {
    return socket?.send(frame) ?? false
  }

  /** Hears every frame (after the workspace has); returns the function that stops listening. */
  function listen(listener: (frame: AgentServerFrame) => void): () => void {
    listeners.add(listener)
    return () => listeners.delete(listener)
  }

  function handle(frame: AgentServerFrame): void {
    switch (frame.type) {
      case 'hello': {
        status.value = frame.agent.status
        for (const key of Object.keys(queues)) delete queues[key]
        for (const q of frame.queues) queues[String(q.group_id)] = q.length
        queueVersions = {}
        helloQueueVersion = frame.queue_version
        const present = new Set(frame.conversations.map((c) => c.id))
        for (const key of Object.keys(views)) {
          if (!present.has(Number(key))) delete views[Number(key)]
        }
        for (const conversation of frame.conversations) viewOf(conversation)
        if (helloSeen) resumeAfterReconnect()
        helloSeen = true
        if (selectedId.value != null && !views[selectedId.value]) selectedId.value = null
        if (selectedId.value == null && list.value.length) select(list.value[0].conversation.id)
        break
      }
      case 'status.changed':
        status.value = frame.status
        break
      case 'queue.updated': {
        const key = String(frame.group_id)
        if (frame.queue_version < (queueVersions[key] ?? helloQueueVersion)) break // older news
        queues[key] = frame.length
        queueVersions[key] = frame.queue_version
        break
      }
      case 'conversation.assigned': {
        if (frame.conversation.transferred_from_agent_id && !agentNames[frame.conversation.transferred_from_agent_id]) {
          void loadAgentNames()
        }
        const view = viewOf(frame.conversation)
        view.lastActivity = new Date().toISOString()
        notifyNewVisitor(frame.conversation)
        if (selectedId.value == null) select(frame.conversation.id)
        break
      }
      case 'message.new':
        receive(frame.message)
        break
      case 'message.ack':
        acknowledge(frame)
        break
      case 'visitor.typing': {
        const view = views[frame.conversation_id]
        if (view) view.typing = frame.text
        break
      }
      case 'visitor.presence': {
        const view = views[frame.conversation_id]
        if (view) view.conversation.visitor.online = frame.online
        break
      }
      case 'conversation.closed': {
        const view = views[frame.conversation_id]
        if (view) {
          view.conversation.state = 'closed'
          view.conversation.end_reason = frame.reason as Conversation['end_reason']
          view.conversation.closed_at = new Date().toISOString()
          view.typing = ''
          view.waitingSince = null
        }
        break
      }
      case 'conversation.transferred': {
        remove(frame.conversation_id)
        break
      }
      case 'conversation.summarized': {
        const view = views[frame.conversation_id]
        if (view) view.conversation.summary = frame.summary as Summary
        break
      }
      case 'conversation.cleared':
        remove(frame.conversation_id)
        break
      case 'rating.received': {
        const view = views[frame.conversation_id]
        if (view) view.conversation.rating = { score: frame.score, comment: frame.comment ?? null }
        ElMessage.success(t('workspace.ratingReceived', { room: view?.conversation.room ?? '', score: frame.score }))
        break
      }
      case 'broadcast.new':
        ElNotification({ title: `${t('workspace.broadcast')} · ${frame.title}`, message: frame.body, duration: 0 })
        break
      case 'resync':
        // Frames may have been lost between servers: a fresh hello, then resume (see hello).
        socket?.send({ type: 'sync' })
        break
      case 'error':
        ElMessage.error(frame.message)
        markFailed(frame.ref)
        break
      default:
        break
    }
  }

  function remove(conversationId: number): void {
    delete views[conversationId]
    if (selectedId.value === conversationId) {
      selectedId.value = null
      const first = list.value[0]
      if (first) select(first.conversation.id)
    }
  }

  function receive(message: Message): void {
    const view = views[message.conversation_id]
    if (!view) return
    const existing = view.messages.find(
      (m) => (m.id != null && m.id === message.id) || (message.client_id && m.client_id === message.client_id && m.sender === message.sender),
    )
    if (existing) {
      Object.assign(existing, toChat(message))
    } else {
      // Kept even before the history is loaded: the load merges by id, so nothing that
      // arrives while it is in flight is lost.
      insertSorted(view, toChat(message))
    }
    view.lastActivity = message.created_at
    view.conversation.last_message = {
      sender: message.sender,
      kind: message.kind,
      body: message.body,
      created_at: message.created_at,
    }
    if (message.sender === 'visitor') {
      view.typing = ''
      if (!view.waitingSince) view.waitingSince = message.created_at
      const watching = selectedId.value === view.conversation.id && !document.hidden
      if (!watching) view.unread += 1
      notifyNewMessage(view.conversation, message)
    } else if (message.sender === 'agent') {
      view.waitingSince = null
    }
  }

  function insertSorted(view: ConversationView, message: ChatMessage): void {
    const list = view.messages
    if (message.seq == null) {
      list.push(message)
      return
    }
    let index = list.length
    while (index > 0) {
      const before = list[index - 1]
      if (before.seq != null && before.seq < message.seq) break
      index -= 1
    }
    list.splice(index, 0, message)
  }

  // The sending socket gets no message.new of its own message: the ack completes it.
  function acknowledge(ack: Extract<AgentServerFrame, { type: 'message.ack' }>): void {
    const { id, seq } = ack
    const view = views[ack.conversation_id]
    const pending = view?.messages.find((m) => m.client_id === ack.client_id && m.sender === 'agent')
    if (!view || !pending) return
    const duplicate = view.messages.find((m) => m.id === id && m !== pending)
    if (duplicate) {
      view.messages.splice(view.messages.indexOf(pending), 1)
      return
    }
    pending.id = id
    pending.seq = seq
    pending.created_at = ack.created_at
    pending.delivery = 'sent'
    view.messages.splice(view.messages.indexOf(pending), 1)
    insertSorted(view, pending)
  }

  function markFailed(ref: string | null | undefined): void {
    if (!ref) return
    for (const view of Object.values(views)) {
      const message = view.messages.find((m) => m.client_id === ref && m.delivery === 'sending')
      if (message) message.delivery = 'failed'
    }
  }

  function resumeAfterReconnect(): void {
    for (const view of Object.values(views)) {
      if (!view.loaded && !view.messages.length) continue
      const lastSeq = view.messages.reduce((max, m) => (m.seq != null && m.seq > max ? m.seq : max), 0)
      socket?.send({ type: 'resume', conversation_id: view.conversation.id, last_seq: lastSeq })
      for (const m of view.messages) {
        if (m.delivery !== 'sent' && m.client_id) {
          m.delivery = 'sending'
          socket?.send({
            type: 'message.send',
            conversation_id: view.conversation.id,
            client_id: m.client_id,
            kind: m.kind,
            body: m.body,
          })
        }
      }
    }
  }

  async function load(view: ConversationView): Promise<void> {
    if (view.loaded || view.loadingOlder) return
    view.loadingOlder = true
    try {
      // The newest page of the room's transcript; older pages load as the agent scrolls up.
      const page = await api.get<{ items: Message[] }>(`/conversations/${view.conversation.id}/messages`, {
        before_seq: MAX_SEQ,
        limit: PAGE,
      })
      const known = new Set(view.messages.map((m) => m.id))
      const fresh = page.items.filter((m) => !known.has(m.id)).map(toChat)
      view.messages = [...fresh, ...view.messages].sort(
        (a, b) => (a.seq ?? Number.MAX_SAFE_INTEGER) - (b.seq ?? Number.MAX_SAFE_INTEGER),
      )
      view.hasOlder = page.items.length >= PAGE
      view.loaded = true
    } finally {
      view.loadingOlder = false
    }
  }

  async function loadOlder(view: ConversationView): Promise<number> {
    if (!view.hasOlder || view.loadingOlder) return 0
    const oldest = view.messages.find((m) => m.seq != null)?.seq
    if (oldest == null) return 0
    view.loadingOlder = true
    try {
      const page = await api.get<{ items: Message[] }>(`/conversations/${view.conversation.id}/messages`, {
        before_seq: oldest,
        limit: PAGE,
      })
      const known = new Set(view.messages.map((m) => m.id))
      const older = page.items.filter((m) => !known.has(m.id)).map(toChat)
      view.messages.unshift(...older)
      view.hasOlder = page.items.length >= PAGE
      return older.length
    } finally {
      view.loadingOlder = false
    }
  }

  function select(conversationId: number): void {
    selectedId.value = conversationId
    const view = views[conversationId]
    if (!view) return
    view.unread = 0
    void load(view).catch((error: unknown) => ElMessage.error(String((error as Error).message ?? error)))
  }

  function sendMessage(conversationId: number, kind: MessageKind, body: string): void {
    const view = views[conversationId]
    if (!view) return
    const clientId = newClientId()
    const message: ChatMessage = {
      id: null,
      seq: null,
      conversation_id: conversationId,
      room: view.conversation.room,
      sender: 'agent',
      agent_id: agentId.value,
      kind,
      body,
      client_id: clientId,
      created_at: new Date().toISOString(),
      delivery: 'sending',
    }
    view.messages.push(message)
    view.waitingSince = null
    view.lastActivity = message.created_at
    view.conversation.last_message = { sender: 'agent', kind, body, created_at: message.created_at }
    // Unsent messages stay 'sending' and go out again after a reconnect with the same client id.
    socket?.send({ type: 'message.send', conversation_id: conversationId, client_id: clientId, kind, body })
  }

  function retry(conversationId: number, message: ChatMessage): void {
    if (!message.client_id) return
    message.delivery = 'sending'
    socket?.send({
      type: 'message.send',
      conversation_id: conversationId,
      client_id: message.client_id,
      kind: message.kind,
      body: message.body,
    })
  }

  return {
    status,
    connection,
    queues,
    queueLength,
    views,
    agentNames,
    list,
    selected,
    selectedId,
    totalUnread,
    connect,
    disconnect,
    send,
    sendIfOpen,
    listen,
    select,
    loadOlder,
    sendMessage,
    retry,
    setStatus: (value: AgentStatus) => send({ type: 'status.set', status: value }),
    accept: () => send({ type: 'conversation.accept' }),
    transfer: (conversationId: number, toAgentId: number) =>
      send({ type: 'conversation.transfer', conversation_id: conversationId, to_agent_id: toAgentId }),
    close: (conversationId: number) => send({ type: 'conversation.close', conversation_id: conversationId }),
    summarize: (conversationId: number, categoryId: number, note: string) =>
      send({ type: 'conversation.summary', conversation_id: conversationId, category_id: categoryId, note }),
    clear: (conversationId: number) => send({ type: 'conversation.clear', conversation_id: conversationId }),
    requestRating: (conversationId: number) => send({ type: 'rating.request', conversation_id: conversationId }),
  }
})
