// Who is logged in. The session itself is the HttpOnly cookie; this only mirrors the user.
import { defineStore } from 'pinia'
import { computed, ref } from 'vue'
import { api, ApiError } from '@/api/client'
import type { LoginResult, User } from '@/api/types'

// Set while this browser is logged in; the session cookie itself is HttpOnly and unreadable here.
const SESSION_HINT = 'kefu.session'

export const useSession = defineStore('session', () => {
  const user = ref<User | null>(null)
  const checked = ref(false)
  const isAdmin = computed(() => user.value?.role === 'admin')

  async function restore(): Promise<User | null> {
    if (checked.value) return user.value
    // Without the hint there is no session to restore: skip the request (and its 401).
    if (!localStorage.getItem(SESSION_HINT)) {
      checked.value = true
      return null
    }
    try {
      user.value = await api.get<User>('/me')
    } catch (error) {
      if (!(error instanceof ApiError) || error.status !== 401) throw error
      localStorage.removeItem(SESSION_HINT)
      user.value = null
    }
    checked.value = true
    return user.value
  }

  async function login(username: string, password: string, remember: boolean): Promise<User> {
    const result = await api.post<LoginResult>('/auth/login', { username, password, remember })
    user.value = result.user
    checked.value = true
    localStorage.setItem(SESSION_HINT, '1')
    localStorage.setItem('kefu.lastUsername', remember ? username : '')
    return result.user
  }

  async function logout(): Promise<void> {
    try {
      await api.post('/auth/logout')
    } finally {
      forget()
    }
  }

  function forget(): void {
    localStorage.removeItem(SESSION_HINT)
    user.value = null
    checked.value = true
  }

  return { user, isAdmin, restore, login, logout, forget }
})
