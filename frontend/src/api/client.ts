// fetch wrapper: same-origin session cookie, JSON in and out, errors as ApiError with the server's message.
import { acceptLanguage, t } from '@/i18n'

export class ApiError extends Error {
  constructor(
    public status: number,
    public code: string,
    message: string,
  ) {
    super(message)
  }
}

export type Query = Record<string, string | number | boolean | null | undefined>

let onUnauthorized: (() => void) | null = null

/** Called whenever the API answers 401 (the session expired or was logged out elsewhere). */
export function setUnauthorizedHandler(handler: () => void): void {
  onUnauthorized = handler
}

/** For other channels (the agent socket) that learn the session is gone. */
export function sessionEnded(): void {
  onUnauthorized?.()
}

function withQuery(path: string, query?: Query): string {
  if (!query) return path
  const params = new URLSearchParams()
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== '') params.set(key, String(value))
  }
  const qs = params.toString()
  return qs ? `${path}?${qs}` : path
}

async function request<T>(method: string, path: string, body?: unknown, query?: Query): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json', 'Accept-Language': acceptLanguage() }
  let payload: BodyInit | undefined
  if (body instanceof FormData) {
    payload = body
  } else if (body !== undefined) {
    headers['Content-Type'] = 'application/json'
    payload = JSON.stringify(body)
  }
  let response: Response
  try {
    response = await fetch(withQuery(`/api/v1${path}`, query), {
      method,
      headers,
      body: payload,
      credentials: 'same-origin',
    })
  } catch {
    throw new ApiError(0, 'network_error', t('error.network'))
  }
  if (response.status === 204) return undefined as T
  const data = await response.json().catch(() => null)
  if (!response.ok) {
    const error = data?.error
    if (response.status === 401 && onUnauthorized && !path.startsWith('/auth/login')) onUnauthorized()
    throw new ApiError(response.status, error?.code ?? 'error', error?.message ?? t('error.generic'))
  }
  return data as T
}

export const api = {
  get: <T>(path: string, query?: Query) => request<T>('GET', path, undefined, query),
  post: <T>(path: string, body?: unknown) => request<T>('POST', path, body ?? {}),
  patch: <T>(path: string, body: unknown) => request<T>('PATCH', path, body),
  delete: <T = void>(path: string) => request<T>('DELETE', path),
  upload: (path: string, form: FormData) => request<{ url: string }>('POST', path, form),
}

/** The message to show for any error thrown by the API or the app. */
export function errorMessage(error: unknown): string {
  if (error instanceof ApiError) return error.message
  if (error instanceof Error) return error.message
  return t('error.generic')
}
