// A WebSocket that reconnects with exponential backoff and keeps itself alive with pings.

export type SocketState = 'connecting' | 'open' | 'closed'

export interface SocketHandlers<In> {
  onFrame(frame: In): void
  onOpen?(): void
  onState?(state: SocketState): void
  /** The server refused the credentials (close code 4401): no point in retrying. */
  onRefused?(): void
}

const REFUSED = 4401

const PING_EVERY = 25_000
const MAX_DELAY = 15_000

export function socketUrl(path: string): string {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:'
  return `${scheme}//${location.host}${path}`
}

export class ReconnectingSocket<In extends { type: string }, Out extends { type: string }> {
  private ws: WebSocket | null = null
  private attempt = 0
  private retryTimer: number | undefined
  private pingTimer: number | undefined
  private stopped = false

  constructor(
    private readonly url: () => string,
    private readonly handlers: SocketHandlers<In>,
  ) {}

  connect(): void {
    this.stopped = false
    this.open()
  }

  /** Sends a frame now; false when the socket is not open (the caller keeps it to resend). */
  send(frame: Out): boolean {
    if (this.ws?.readyState !== WebSocket.OPEN) return false
    this.ws.send(JSON.stringify(frame))
    return true
  }

  get isOpen(): boolean {
    return this.ws?.readyState === WebSocket.OPEN
  }

  close(): void {
    this.stopped = true
    window.clearTimeout(this.retryTimer)
    window.clearInterval(this.pingTimer)
    this.ws?.close(1000)
    this.ws = null
    this.handlers.onState?.('closed')
  }

  private open(): void {
    this.handlers.onState?.('connecting')
    const ws = new WebSocket(this.url())
    this.ws = ws
    ws.onopen = () => {
      this.attempt = 0
      this.handlers.onState?.('open')
      this.pingTimer = window.setInterval(() => this.send({ type: 'ping' } as unknown as Out), PING_EVERY)
      this.handlers.onOpen?.()
    }
    ws.onmessage = (event) => {
      let frame: In
      try {
        frame = JSON.parse(String(event.data)) as In
      } catch {
        return
      }
      this.handlers.onFrame(frame)
    }
    ws.onclose = (event) => {
      window.clearInterval(this.pingTimer)
      if (this.ws !== ws) return
      this.ws = null
      this.handlers.onState?.('closed')
      if (event.code === REFUSED) {
        this.stopped = true
        this.handlers.onRefused?.()
      } else if (!this.stopped) {
        this.scheduleRetry()
      }
    }
  }

  private scheduleRetry(): void {
    const delay = Math.min(MAX_DELAY, 500 * 2 ** this.attempt) * (0.8 + Math.random() * 0.4)
    this.attempt += 1
    this.retryTimer = window.setTimeout(() => this.open(), delay)
  }
}
