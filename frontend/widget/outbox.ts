// Messages the server has not acknowledged yet, kept in localStorage so a reload or a lost
// connection never loses them; they are resent with the same client id (the server dedupes).

export interface Pending {
  client_id: string
  kind: 'text' | 'image'
  body: string
  created_at: string
}

export class Outbox {
  constructor(private readonly storageKey: string) {}

  all(): Pending[] {
    try {
      const parsed: unknown = JSON.parse(localStorage.getItem(this.storageKey) || '[]')
      return Array.isArray(parsed) ? (parsed as Pending[]) : []
    } catch {
      return []
    }
  }

  add(item: Pending): void {
    const items = this.all().filter((p) => p.client_id !== item.client_id)
    items.push(item)
    this.save(items)
  }

  remove(clientId: string): void {
    this.save(this.all().filter((p) => p.client_id !== clientId))
  }

  private save(items: Pending[]): void {
    try {
      if (items.length) localStorage.setItem(this.storageKey, JSON.stringify(items))
      else localStorage.removeItem(this.storageKey)
    } catch {
      // Storage full or blocked: the messages still go out while the page stays open.
    }
  }
}

export function newClientId(): string {
  const c = globalThis.crypto
  if (c && typeof c.randomUUID === 'function') return c.randomUUID()
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 12)}`
}
