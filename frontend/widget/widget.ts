// The visitor's chat window: a launcher button and a panel in a shadow root, talking to /ws/visitor.
import { CSS } from './styles'
import { fill, words, type Words } from './i18n'
import { Outbox, newClientId, type Pending } from './outbox'

export interface WidgetOptions {
  key: string
  origin: string
  group: number | null
  lang: string
}

type Sender = 'visitor' | 'agent' | 'system'
type Delivery = 'sending' | 'sent' | 'failed'

interface ChatMessage {
  id: number | null
  seq: number | null
  client_id: string | null
  sender: Sender
  kind: string
  body: string
  created_at: string
  state: Delivery
}

interface AgentCard {
  nickname: string
  avatar: string | null
}

interface ConversationInfo {
  id: number
  state: 'queued' | 'active' | 'closed'
  agent: AgentCard | null
  position: number | null
  queue_version?: number | null
}

const STAGE = { queued: 0, active: 1, closed: 2 }

/** Whether `next` is older news than `shown`. Frames published by several servers may arrive
 *  out of order; but a conversation never goes back (queued → active → closed), a later one
 *  has a larger id, and of two queue positions the one with the higher version is newer. */
function isStale(shown: ConversationInfo | null, next: ConversationInfo): boolean {
  if (!shown) return false
  if (next.id !== shown.id) return next.id < shown.id
  if (next.state !== shown.state) return STAGE[next.state] < STAGE[shown.state]
  return next.state === 'queued' && (next.queue_version ?? 0) < (shown.queue_version ?? 0)
}

interface OfflineNote {
  id: number
  content: string
  reply: string | null
  status: string
  created_at: string
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Frame = { type: string; [key: string]: any }

const HISTORY = 50
const MAX_DELAY = 15_000
const TYPING_EVERY = 300

type Child = Node | string | null | false | undefined

/** A tiny element builder: h('div', {class: 'x', onclick: fn}, 'text', child). */
function h(tag: string, attrs: Record<string, unknown> = {}, ...children: Child[]): HTMLElement {
  const el = document.createElement(tag)
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue
    if (name.startsWith('on') && typeof value === 'function') {
      el.addEventListener(name.slice(2), value as EventListener)
    } else if (name in el && name !== 'list' && name !== 'type') {
      ;(el as unknown as Record<string, unknown>)[name] = value
    } else {
      el.setAttribute(name, String(value))
    }
  }
  for (const child of children) {
    if (child) el.append(child)
  }
  return el
}

const RICH_TAGS = /^(B|STRONG|I|EM|U|S|BR|P|DIV|SPAN|FONT)$/

/** Agents' rich text (already cleaned by the server) reduced again to formatting and colour. */
function richNode(html: string): DocumentFragment {
  const template = document.createElement('template')
  template.innerHTML = html
  const out = document.createDocumentFragment()
  const copy = (node: Node, into: Node): void => {
    if (node.nodeType === 3) {
      into.appendChild(document.createTextNode(node.textContent || ''))
      return
    }
    if (node.nodeType !== 1) return
    const source = node as HTMLElement
    let target: Node = into
    if (RICH_TAGS.test(source.tagName)) {
      const el = document.createElement(source.tagName === 'FONT' ? 'span' : source.tagName)
      const color = source.style.color || source.getAttribute('color')
      if (color && /^(#[0-9a-f]{3,8}|rgba?\([\d\s.,%]+\)|[a-z]+)$/i.test(color)) el.style.color = color
      into.appendChild(el)
      target = el
    }
    source.childNodes.forEach((child) => copy(child, target))
  }
  template.content.childNodes.forEach((child) => copy(child, out))
  return out
}

function clock(iso: string): string {
  const d = new Date(iso)
  return `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`
}

const CHAT_ICON =
  '<svg viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round"><path d="M21 15a2 2 0 0 1-2 2H7l-4 4V5a2 2 0 0 1 2-2h14a2 2 0 0 1 2 2z"/></svg>'

const IMAGE_ICON =
  '<svg viewBox="0 0 24 24" width="22" height="22" fill="none" stroke="#6b7280" stroke-width="2" stroke-linecap="round" stroke-linejoin="round"><rect x="3" y="3" width="18" height="18" rx="2"/><circle cx="8.5" cy="8.5" r="1.5"/><path d="M21 15l-5-5L5 21"/></svg>'

export class Widget {
  private readonly w: Words
  private readonly store: string
  private readonly outbox: Outbox
  private root!: ShadowRoot
  private launcher!: HTMLElement
  private badge!: HTMLElement
  private panel!: HTMLElement
  private headName!: HTMLElement
  private headSub!: HTMLElement
  private avatar!: HTMLElement
  private endButton!: HTMLButtonElement
  private notice!: HTMLElement
  private list!: HTMLElement
  private input!: HTMLTextAreaElement
  private footer!: HTMLElement
  private offlineCard!: HTMLElement
  private ratingCard: HTMLElement | null = null

  private token: string | null
  /** Whether this page's session is open (the socket's first frame, `session`, said so). */
  private sessionOpen = false
  private sessionWaiters: ((ok: boolean) => void)[] = []
  private online = true
  private merchantName = ''
  private offlineNotes: OfflineNote[] = []
  private ws: WebSocket | null = null
  private attempt = 0
  private retryTimer: number | undefined
  private connected = false
  private everConnected = false
  private startOnConnect = false
  private conversation: ConversationInfo | null = null
  private messages: ChatMessage[] = []
  private lastSeq = 0
  private isOpen = false
  private unread = 0
  private forceOffline = false
  private typingTimer: number | undefined
  private typingSent = ''
  private endArmed = false

  constructor(private readonly options: WidgetOptions) {
    this.w = words(options.lang)
    this.store = `kefu:${options.key}:`
    this.outbox = new Outbox(`${this.store}outbox`)
    this.token = localStorage.getItem(`${this.store}token`)
  }

  mount(): void {
    const host = document.createElement('div')
    host.id = 'kefu-widget'
    host.setAttribute('data-kefu', '')
    // Inline, so that no rule of the page (div { … }) reaches the host and inherits inward.
    host.style.cssText = 'all:initial;position:static;display:block;width:0;height:0'
    document.body.appendChild(host)
    this.root = host.attachShadow({ mode: 'open' })
    this.root.appendChild(h('style', {}, CSS))
    this.build()
    // A returning visitor reconnects at once, so replies and unsent messages are not lost.
    if (this.token || this.outbox.all().length) this.connect()
    if (localStorage.getItem(`${this.store}open`) === '1') this.open()
    this.renderPending()
  }

  // --- public -----------------------------------------------------------------------------

  open(): void {
    this.isOpen = true
    localStorage.setItem(`${this.store}open`, '1')
    this.launcher.classList.add('hidden')
    this.panel.classList.remove('hidden')
    this.unread = 0
    this.markRepliesSeen()
    this.updateBadge()
    const needsConversation = !this.conversation || this.conversation.state === 'closed'
    if (!this.ws) {
      this.startOnConnect = needsConversation
      this.connect()
    } else if (needsConversation && this.online && this.connected && !this.startOnConnect) {
      // The socket was opened quietly (start=0): reopen it asking for a conversation.
      this.startOnConnect = true
      this.reconnectNow()
    }
    this.render()
    window.setTimeout(() => this.input.focus(), 0)
  }

  close(): void {
    this.isOpen = false
    localStorage.removeItem(`${this.store}open`)
    this.panel.classList.add('hidden')
    this.launcher.classList.remove('hidden')
    this.updateBadge()
  }

  // --- DOM --------------------------------------------------------------------------------

  private build(): void {
    const w = this.w
    this.badge = h('span', { class: 'badge hidden', 'data-test': 'widget-badge' })
    this.launcher = h(
      'button',
      { class: 'launcher', type: 'button', 'data-test': 'widget-launcher', onclick: () => this.open() },
      w.launcher,
      this.badge,
    )
    this.launcher.insertAdjacentHTML('afterbegin', CHAT_ICON)

    this.avatar = h('div', { class: 'avatar' }, '客')
    this.headName = h('div', { class: 'name', 'data-test': 'widget-title' }, w.title)
    this.headSub = h('div', { class: 'sub', 'data-test': 'widget-status' }, '')
    this.endButton = h('button', { type: 'button', 'data-test': 'widget-end', onclick: () => this.endChat() }, w.endChat) as HTMLButtonElement
    const head = h(
      'div',
      { class: 'head' },
      this.avatar,
      h('div', { class: 'who' }, this.headName, this.headSub),
      this.endButton,
      h('button', { type: 'button', title: w.minimize, 'data-test': 'widget-minimize', onclick: () => this.close() }, '—'),
    )
    this.notice = h('div', { class: 'notice hidden', 'data-test': 'widget-notice' })
    this.list = h('div', { class: 'body', 'data-test': 'widget-messages' })

    this.input = h('textarea', {
      placeholder: w.placeholder,
      rows: 1,
      maxLength: 5000,
      'data-test': 'widget-input',
      oninput: () => this.onTyping(),
      onkeydown: (e: KeyboardEvent) => {
        if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
          e.preventDefault()
          this.sendText()
        }
      },
      onpaste: (e: ClipboardEvent) => {
        const item = Array.from(e.clipboardData?.items || []).find((i) => i.type.startsWith('image/'))
        const file = item?.getAsFile()
        if (file) {
          e.preventDefault()
          void this.upload(file)
        }
      },
    }) as HTMLTextAreaElement
    const fileInput = h('input', {
      type: 'file',
      accept: 'image/*',
      class: 'hidden',
      'data-test': 'widget-file',
      onchange: (e: Event) => {
        const el = e.target as HTMLInputElement
        const file = el.files && el.files[0]
        if (file) void this.upload(file)
        el.value = ''
      },
    }) as HTMLInputElement
    const imageButton = h('button', { type: 'button', class: 'icon', title: w.image, 'data-test': 'widget-image', onclick: () => fileInput.click() })
    imageButton.innerHTML = IMAGE_ICON
    this.footer = h(
      'div',
      { class: 'foot' },
      imageButton,
      fileInput,
      this.input,
      h('button', { type: 'button', class: 'btn', 'data-test': 'widget-send', onclick: () => this.sendText() }, w.send),
    )
    this.offlineCard = this.buildOfflineForm()
    this.panel = h(
      'div',
      { class: 'panel hidden', 'data-test': 'widget-panel', role: 'dialog', 'aria-label': w.title },
      head,
      this.notice,
      this.list,
      this.footer,
      h('div', { class: 'poweredby' }, 'kefu'),
    )
    this.root.append(this.launcher, this.panel)
  }

  private buildOfflineForm(): HTMLElement {
    const w = this.w
    const content = h('textarea', { rows: 4, maxLength: 5000, placeholder: w.offlineContent, 'data-test': 'offline-content' }) as HTMLTextAreaElement
    const contact = h('input', { maxLength: 200, placeholder: w.offlineContact, 'data-test': 'offline-contact' }) as HTMLInputElement
    const status = h('p', { 'data-test': 'offline-status' })
    const button = h('button', { type: 'button', class: 'btn', 'data-test': 'offline-submit' }, w.offlineSubmit) as HTMLButtonElement
    button.onclick = async () => {
      if (!content.value.trim() || !contact.value.trim()) {
        status.textContent = w.offlineNeedBoth
        return
      }
      button.disabled = true
      try {
        if (!(await this.ensureSession())) throw new Error('session')
        const note = await this.post<OfflineNote>('/api/v1/widget/offline-messages', {
          visitor_token: this.token,
          content: content.value.trim(),
          contact: contact.value.trim(),
        })
        this.offlineNotes.unshift(note)
        content.value = ''
        status.textContent = w.offlineDone
        this.render()
      } catch {
        status.textContent = w.error
      } finally {
        button.disabled = false
      }
    }
    return h(
      'div',
      { class: 'card', 'data-test': 'offline-form' },
      h('h4', {}, w.offlineTitle),
      h('p', {}, w.offlineIntro),
      content,
      contact,
      status,
      button,
    )
  }

  private render(): void {
    const w = this.w
    const conv = this.conversation
    const showOffline = this.forceOffline || (!this.online && (!conv || conv.state === 'closed'))
    // Header: who is serving.
    if (conv && conv.agent && conv.state === 'active') {
      this.headName.textContent = conv.agent.nickname
      this.headSub.textContent = fill(w.serving, { name: conv.agent.nickname })
      this.avatar.textContent = ''
      if (conv.agent.avatar) this.avatar.append(h('img', { src: this.absolute(conv.agent.avatar), alt: '' }))
      else this.avatar.textContent = conv.agent.nickname.slice(0, 1)
    } else {
      this.headName.textContent = this.merchantName || w.title
      this.headSub.textContent = w.title
      this.avatar.textContent = (this.merchantName || w.title).slice(0, 1)
    }
    this.endButton.classList.toggle('hidden', !conv || conv.state === 'closed')
    // Notice: connection, queue, end.
    let notice = ''
    let info = true
    if (this.everConnected && !this.connected) {
      notice = w.reconnecting
      info = false
    } else if (!this.everConnected && this.ws) {
      notice = w.connecting
    } else if (conv && conv.state === 'queued') {
      const ahead = Math.max(0, (conv.position || 1) - 1)
      notice = ahead ? fill(w.queued, { n: ahead }) : w.queuedFirst
    } else if (conv && conv.state === 'closed' && !showOffline) {
      notice = w.ended
    }
    this.notice.textContent = notice
    this.notice.classList.toggle('hidden', !notice)
    this.notice.classList.toggle('info', info)
    this.footer.classList.toggle('hidden', showOffline)

    // Body: my offline messages (with replies), the transcript, the rating card, the offline form.
    const nearBottom = this.list.scrollHeight - this.list.scrollTop - this.list.clientHeight < 60
    const nodes: Node[] = []
    if (this.offlineNotes.length) nodes.push(this.notesCard())
    for (const m of this.messages) nodes.push(this.messageNode(m))
    if (this.ratingCard) nodes.push(this.ratingCard)
    if (showOffline) nodes.push(this.offlineCard)
    this.list.replaceChildren(...nodes)
    if (nearBottom || this.isOpen) this.list.scrollTop = this.list.scrollHeight
  }

  private notesCard(): HTMLElement {
    const w = this.w
    return h(
      'div',
      { class: 'card', 'data-test': 'offline-notes' },
      h('h4', {}, w.myMessages),
      ...this.offlineNotes.map((n) =>
        h(
          'div',
          { class: 'note', 'data-test': 'offline-note' },
          h('div', {}, n.content),
          n.reply
            ? h('div', { class: 'reply', 'data-test': 'offline-reply' }, w.replyLabel + n.reply)
            : h('div', { class: 'left' }, w.awaitingReply),
        ),
      ),
    )
  }

  private messageNode(m: ChatMessage): HTMLElement {
    const w = this.w
    if (m.sender === 'system' || m.kind === 'event') return h('div', { class: 'system' }, m.body)
    const mine = m.sender === 'visitor'
    let content: Node
    if (m.kind === 'image') {
      content = h('img', { src: this.absolute(m.body), alt: '', onload: () => this.scrollDown() })
    } else if (m.kind === 'file') {
      content = h('a', { href: this.absolute(m.body), target: '_blank', rel: 'noopener' }, m.body.split('/').pop() || m.body)
    } else if (m.kind === 'rich') {
      content = richNode(m.body)
    } else {
      content = document.createTextNode(m.body)
    }
    const stateText = m.state === 'sending' ? w.sending : m.state === 'failed' ? w.failed : w.sent
    return h(
      'div',
      { class: `msg ${mine ? 'mine' : 'theirs'}`, 'data-test': `widget-message-${m.sender}` },
      h('div', { class: 'meta' }, `${mine ? w.you : this.agentName()} ${clock(m.created_at)}`),
      h('div', { class: 'bubble' }, content),
      mine &&
        h(
          'div',
          {
            class: `state ${m.state}`,
            'data-test': `delivery-${m.state}`,
            onclick: m.state === 'failed' ? () => this.retry(m) : undefined,
          },
          stateText,
        ),
    )
  }

  private agentName(): string {
    return this.conversation?.agent?.nickname || this.w.agent
  }

  private scrollDown(): void {
    this.list.scrollTop = this.list.scrollHeight
  }

  private updateBadge(): void {
    const unseenReplies = this.unseenReplies()
    const count = this.unread + unseenReplies
    this.badge.textContent = String(count)
    this.badge.classList.toggle('hidden', this.isOpen || count === 0)
  }

  private unseenReplies(): number {
    const seen = (localStorage.getItem(`${this.store}seen`) || '').split(',')
    return this.offlineNotes.filter((n) => n.reply && !seen.includes(String(n.id))).length
  }

  private markRepliesSeen(): void {
    const ids = this.offlineNotes.filter((n) => n.reply).map((n) => n.id)
    if (ids.length) localStorage.setItem(`${this.store}seen`, ids.join(','))
  }

  // --- HTTP -------------------------------------------------------------------------------

  private absolute(url: string): string {
    return url.startsWith('/') ? this.options.origin + url : url
  }

  private async post<T>(path: string, body: unknown): Promise<T> {
    const response = await fetch(this.options.origin + path, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'Accept-Language': this.options.lang },
      body: JSON.stringify(body),
    })
    if (!response.ok) throw new Error(String(response.status))
    return (await response.json()) as T
  }

  /** Resolves once this page's session is open (the socket opens it); false when refused. */
  private ensureSession(): Promise<boolean> {
    if (this.sessionOpen) return Promise.resolve(true)
    if (!this.ws) this.connect()
    return new Promise((resolve) => this.sessionWaiters.push(resolve))
  }

  private settleSession(ok: boolean): void {
    const waiters = this.sessionWaiters
    this.sessionWaiters = []
    for (const resolve of waiters) resolve(ok)
  }

  /** The socket's first frame when it opened the session: the token and what the visitor left. */
  private onSession(f: Frame): void {
    this.sessionOpen = true
    this.token = f.visitor_token as string
    localStorage.setItem(`${this.store}token`, this.token)
    this.online = Boolean(f.online)
    this.merchantName = (f.merchant_name as string) || ''
    this.offlineNotes = (f.offline_messages as OfflineNote[]) || []
    if (this.isOpen) this.markRepliesSeen()
    this.updateBadge()
    this.settleSession(true)
  }

  private async upload(file: File): Promise<void> {
    if (!file.type.startsWith('image/') || !(await this.ensureSession()) || !this.token) return
    const form = new FormData()
    form.append('visitor_token', this.token)
    form.append('file', file, file.name || 'image.png')
    try {
      const response = await fetch(`${this.options.origin}/api/v1/widget/uploads`, { method: 'POST', body: form })
      if (!response.ok) throw new Error(String(response.status))
      const { url } = (await response.json()) as { url: string }
      this.queue('image', url)
    } catch {
      this.flash(this.w.uploadFailed)
    }
  }

  // --- socket -----------------------------------------------------------------------------

  /** Opens the socket; the first one of a page also opens (or refreshes) the session. */
  private connect(): void {
    window.clearTimeout(this.retryTimer)
    const origin = this.options.origin.replace(/^http/, 'ws')
    const params = new URLSearchParams({ start: this.startOnConnect ? '1' : '0', lang: this.options.lang })
    if (this.token) params.set('token', this.token)
    if (!this.sessionOpen) {
      params.set('widget_key', this.options.key)
      params.set('page_url', location.href.slice(0, 2000))
      params.set('page_title', document.title.slice(0, 500))
    }
    if (this.options.group != null) params.set('group_id', String(this.options.group))
    const ws = new WebSocket(`${origin}/ws/visitor?${params}`)
    this.ws = ws
    ws.onopen = () => {
      this.attempt = 0
    }
    ws.onmessage = (event) => {
      try {
        this.onFrame(JSON.parse(String(event.data)) as Frame)
      } catch {
        // A frame we do not understand is skipped; the next resume fills any gap.
      }
    }
    ws.onclose = (event) => {
      if (this.ws !== ws) return
      this.ws = null
      this.connected = false
      if (!this.sessionOpen) this.settleSession(false)
      this.renderPending()
      this.render()
      if (event.code === 4401) {
        // The token is no longer valid: the next socket opens a new session.
        localStorage.removeItem(`${this.store}token`)
        this.token = null
        this.sessionOpen = false
      } else if (event.code > 4401 && event.code < 4500) {
        return // the session was refused (a wrong key or group): the next open() tries again
      }
      this.scheduleRetry()
    }
  }

  private reconnectNow(): void {
    const old = this.ws
    this.ws = null
    this.connected = false
    old?.close(1000)
    this.connect()
  }

  private scheduleRetry(): void {
    const delay = Math.min(MAX_DELAY, 500 * 2 ** this.attempt) * (0.8 + Math.random() * 0.4)
    this.attempt += 1
    this.retryTimer = window.setTimeout(() => this.connect(), delay)
  }

  private send(frame: Frame): boolean {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN || !this.connected) return false
    this.ws.send(JSON.stringify(frame))
    return true
  }

  private onFrame(f: Frame): void {
    switch (f.type) {
      case 'session':
        this.onSession(f)
        break
      case 'hello':
        this.onHello(f)
        break
      case 'message.ack':
        this.onAck(f)
        break
      case 'message.new':
        this.onMessage(f.message as ChatMessage)
        break
      case 'conversation.queued':
      case 'conversation.assigned': {
        const queued = f.type === 'conversation.queued'
        const next: ConversationInfo = queued
          ? { id: f.conversation_id, state: 'queued', agent: null, position: f.position, queue_version: f.queue_version }
          : { id: f.conversation_id, state: 'active', agent: f.agent, position: null }
        if (isStale(this.conversation, next)) return
        this.conversation = next
        this.forceOffline = false
        break
      }
      case 'conversation.closed':
        if (this.conversation && f.conversation_id < this.conversation.id) return
        if (this.conversation) this.conversation.state = 'closed'
        this.startOnConnect = false
        break
      case 'rating.requested':
        this.ratingCard = this.buildRating(f.conversation_id as number)
        if (!this.isOpen) this.open()
        break
      case 'error':
        this.onError(f)
        break
      case 'resync':
        // Frames may have been lost between servers: ask for a fresh hello, which resumes.
        this.send({ type: 'sync' })
        return
      default:
        return
    }
    this.render()
  }

  private onHello(f: Frame): void {
    const first = !this.everConnected
    this.connected = true
    this.everConnected = true
    this.online = Boolean(f.online)
    const conversation = f.conversation as ConversationInfo | null
    // Read before frames published meanwhile may have arrived: keep whatever is newer.
    if (!conversation || !isStale(this.conversation, conversation)) this.conversation = conversation
    if (this.conversation && this.conversation.state !== 'closed') this.startOnConnect = false
    else if (first && this.isOpen && this.online && !this.startOnConnect) {
      // Opened while a quiet socket (start=0) was connecting: reconnect asking for a conversation.
      this.startOnConnect = true
      this.reconnectNow()
      return
    }
    // Catch up: recent history on the first connection, everything missed after a reconnect.
    const from = this.messages.some((m) => m.seq != null) ? this.lastSeq : Math.max(0, (f.last_seq as number) - HISTORY)
    this.send({ type: 'resume', last_seq: from })
    for (const p of this.outbox.all()) this.transmit(p)
  }

  // The sending socket gets no message.new of its own message: the ack completes it.
  private onAck(f: Frame): void {
    this.outbox.remove(f.client_id)
    const m = this.messages.find((x) => x.client_id === f.client_id && x.sender === 'visitor')
    if (!m) return
    const twin = this.messages.find((x) => x !== m && x.id === f.id)
    if (twin) this.messages.splice(this.messages.indexOf(m), 1)
    else Object.assign(m, { id: f.id, seq: f.seq, created_at: f.created_at ?? m.created_at, state: 'sent' as Delivery })
    this.lastSeq = Math.max(this.lastSeq, f.seq)
    this.sortMessages()
  }

  private onMessage(message: ChatMessage): void {
    this.lastSeq = Math.max(this.lastSeq, message.seq || 0)
    const existing = this.messages.find(
      (x) => (x.id != null && x.id === message.id) || (message.client_id && x.client_id === message.client_id && x.sender === message.sender),
    )
    if (existing) {
      Object.assign(existing, message, { state: 'sent' })
      if (existing.client_id) this.outbox.remove(existing.client_id)
    } else {
      this.messages.push({ ...message, state: 'sent' })
      if (message.sender === 'agent' && !this.isOpen && this.everConnected) {
        this.unread += 1
        this.updateBadge()
      }
    }
    this.sortMessages()
  }

  private onError(f: Frame): void {
    const pending = this.messages.find((m) => m.client_id === f.ref && m.state !== 'sent')
    if (pending && pending.client_id) {
      this.outbox.remove(pending.client_id)
      pending.state = 'failed'
      if (f.code === 'no_agent_online') {
        this.forceOffline = true
        const area = this.offlineCard.querySelector('textarea')
        if (area && !area.value) area.value = pending.kind === 'text' ? pending.body : ''
      }
      return
    }
    if (this.ratingCard && f.code === 'already_rated') {
      this.ratingCard = h('div', { class: 'card' }, h('p', {}, f.message))
      return
    }
    this.flash(String(f.message || this.w.error))
  }

  private flash(text: string): void {
    this.notice.textContent = text
    this.notice.classList.remove('hidden', 'info')
    window.setTimeout(() => this.render(), 4000)
  }

  private sortMessages(): void {
    this.messages.sort((a, b) => (a.seq ?? Number.MAX_SAFE_INTEGER) - (b.seq ?? Number.MAX_SAFE_INTEGER))
  }

  // --- sending ----------------------------------------------------------------------------

  private sendText(): void {
    const text = this.input.value.trim()
    if (!text) return
    this.input.value = ''
    this.queue('text', text)
    window.clearTimeout(this.typingTimer)
    if (this.typingSent) {
      this.typingSent = ''
      this.send({ type: 'typing', text: '' })
    }
  }

  /** Keeps the message in the outbox, shows it as sending, and sends it if connected. */
  private queue(kind: 'text' | 'image', body: string): void {
    const pending: Pending = { client_id: newClientId(), kind, body, created_at: new Date().toISOString() }
    this.outbox.add(pending)
    this.messages.push({ id: null, seq: null, client_id: pending.client_id, sender: 'visitor', kind, body, created_at: pending.created_at, state: 'sending' })
    this.transmit(pending)
    if (!this.ws) this.connect()
    this.render()
    this.scrollDown()
  }

  private transmit(p: Pending): void {
    this.send({ type: 'message.send', client_id: p.client_id, kind: p.kind, body: p.body })
  }

  private retry(m: ChatMessage): void {
    if (!m.client_id) return
    m.state = 'sending'
    const pending: Pending = { client_id: m.client_id, kind: m.kind === 'image' ? 'image' : 'text', body: m.body, created_at: m.created_at }
    this.outbox.add(pending)
    this.forceOffline = false
    this.transmit(pending)
    this.render()
  }

  /** Messages left in the outbox by an earlier page show up as "sending" until acknowledged. */
  private renderPending(): void {
    for (const p of this.outbox.all()) {
      if (!this.messages.some((m) => m.client_id === p.client_id)) {
        this.messages.push({ id: null, seq: null, client_id: p.client_id, sender: 'visitor', kind: p.kind, body: p.body, created_at: p.created_at, state: 'sending' })
      }
    }
  }

  private onTyping(): void {
    if (this.typingTimer !== undefined) return
    this.typingTimer = window.setTimeout(() => {
      this.typingTimer = undefined
      const text = this.input.value.slice(0, 2000)
      if (text !== this.typingSent && this.conversation && this.conversation.state !== 'closed') {
        if (this.send({ type: 'typing', text })) this.typingSent = text
      }
    }, TYPING_EVERY)
  }

  private endChat(): void {
    if (!this.endArmed) {
      this.endArmed = true
      this.endButton.textContent = this.w.endConfirm
      window.setTimeout(() => {
        this.endArmed = false
        this.endButton.textContent = this.w.endChat
      }, 4000)
      return
    }
    this.endArmed = false
    this.endButton.textContent = this.w.endChat
    this.send({ type: 'conversation.end' })
  }

  private buildRating(conversationId: number): HTMLElement {
    const w = this.w
    const names: Record<number, string> = { 5: w.score5, 4: w.score4, 3: w.score3, 2: w.score2, 1: w.score1 }
    let score = 5
    const group = `kefu-score-${conversationId}`
    const scores = h(
      'div',
      { class: 'scores' },
      ...[5, 4, 3, 2, 1].map((s) =>
        h(
          'label',
          { 'data-test': `rate-${s}` },
          h('input', { type: 'radio', name: group, value: String(s), checked: s === 5, onchange: () => (score = s), style: 'width:auto' }),
          h('span', { class: 'stars' }, '★'.repeat(s)),
          names[s],
        ),
      ),
    )
    const comment = h('textarea', { rows: 2, maxLength: 500, placeholder: w.rateComment, 'data-test': 'rate-comment' }) as HTMLTextAreaElement
    const card = h(
      'div',
      { class: 'card', 'data-test': 'rating-card' },
      h('h4', {}, w.rateTitle),
      scores,
      comment,
      h(
        'button',
        {
          type: 'button',
          class: 'btn',
          'data-test': 'rate-submit',
          onclick: () => {
            const sent = this.send({
              type: 'rating.submit',
              score,
              comment: comment.value.trim() || null,
              conversation_id: conversationId,
            })
            if (!sent) return
            this.ratingCard = h('div', { class: 'card', 'data-test': 'rating-thanks' }, h('p', {}, w.rateThanks))
            this.render()
          },
        },
        w.rateSubmit,
      ),
    )
    return card
  }
}
