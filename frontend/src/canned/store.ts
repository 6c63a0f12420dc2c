// The canned replies an agent can use (the merchant's shared ones and their own), loaded once
// per workspace and refreshed when the picker opens; the editor's "/shortcut" reads them too.
import { defineStore } from 'pinia'
import { ref } from 'vue'
import { api } from '@/api/client'
import { removeAfterConfirm } from '@/api/remove'
import type { CannedReply, Category, Page } from '@/api/types'
import { t } from '@/i18n'

const LIMIT = 500

/** Whether `reply` matches what was typed after "/" (or in the picker's search box). */
export function replyMatches(reply: CannedReply, query: string): boolean {
  const q = query.trim().toLowerCase()
  if (!q) return true
  return (
    (reply.shortcut ?? '').includes(q) ||
    reply.title.toLowerCase().includes(q) ||
    reply.content.toLowerCase().includes(q)
  )
}

/** Asks, then removes the reply; true when it is gone. */
export function deleteReply(reply: CannedReply): Promise<boolean> {
  return removeAfterConfirm(t('canned.deleteConfirm', { title: reply.title }), `/canned-replies/${reply.id}`)
}

export const useCanned = defineStore('canned', () => {
  const categories = ref<Category[]>([])
  const replies = ref<CannedReply[]>([])
  const loaded = ref(false)
  let pending: Promise<void> | null = null

  async function fetchAll(): Promise<void> {
    const [cats, page] = await Promise.all([
      api.get<Page<Category>>('/canned-reply-categories', { limit: LIMIT }),
      api.get<Page<CannedReply>>('/canned-replies', { limit: LIMIT }),
    ])
    categories.value = cats.items
    replies.value = page.items
    loaded.value = true
  }

  /** Loads the lists (again, with `force`); concurrent calls share one request. */
  function load(force = false): Promise<void> {
    if (loaded.value && !force) return Promise.resolve()
    pending ??= fetchAll().finally(() => (pending = null))
    return pending
  }

  /** For "/fh": shortcuts starting with what was typed first, then other matches. */
  function suggest(query: string, max = 8): CannedReply[] {
    const q = query.toLowerCase()
    const starts = replies.value
      .filter((r) => r.shortcut?.startsWith(q))
      .sort((a, b) => Number(b.shortcut === q) - Number(a.shortcut === q))
    const others = replies.value.filter((r) => !starts.includes(r) && replyMatches(r, q))
    return [...starts, ...others].slice(0, max)
  }

  return { categories, replies, loaded, load, suggest }
})
