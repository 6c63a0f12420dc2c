// Display helpers: message previews, rich-text sanitising, durations, devices.
import type { LastMessage, Message } from '@/api/types'
import { t } from '@/i18n'

const ALLOWED_TAGS = new Set(['B', 'STRONG', 'I', 'EM', 'U', 'SPAN', 'FONT', 'BR', 'DIV', 'P'])

/** Rich text keeps only bold, italic, underline, colour and line breaks; everything else becomes text. */
export function sanitizeRich(html: string): string {
  const template = document.createElement('template')
  template.innerHTML = html
  const clean = (node: Node): Node | null => {
    if (node.nodeType === Node.TEXT_NODE) return document.createTextNode(node.textContent ?? '')
    if (node.nodeType !== Node.ELEMENT_NODE) return null
    const element = node as HTMLElement
    const children = Array.from(element.childNodes).map(clean).filter((n): n is Node => n !== null)
    if (!ALLOWED_TAGS.has(element.tagName)) {
      const fragment = document.createDocumentFragment()
      children.forEach((child) => fragment.appendChild(child))
      return fragment
    }
    const tag = element.tagName === 'FONT' ? 'span' : element.tagName.toLowerCase()
    const out = document.createElement(tag)
    const color = element.style?.color || element.getAttribute('color')
    if (color && /^(#[0-9a-f]{3,8}|rgba?\([\d\s.,%]+\)|[a-z]+)$/i.test(color.trim())) out.style.color = color.trim()
    children.forEach((child) => out.appendChild(child))
    return out
  }
  const result = document.createElement('div')
  Array.from(template.content.childNodes)
    .map(clean)
    .filter((n): n is Node => n !== null)
    .forEach((n) => result.appendChild(n))
  return result.innerHTML
}

export function htmlToText(html: string): string {
  const div = document.createElement('div')
  div.innerHTML = html
  return div.textContent ?? ''
}

export function messagePreview(message: Pick<Message, 'kind' | 'body'> | LastMessage): string {
  switch (message.kind) {
    case 'image':
      return t('message.image')
    case 'file':
      return t('message.file')
    case 'rich':
      return htmlToText(message.body)
    default:
      return message.body
  }
}

export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds))
  if (s < 60) return t('time.seconds', { n: s })
  if (s < 3600) return t('time.minutes', { n: Math.floor(s / 60) })
  return t('time.hours', { h: Math.floor(s / 3600), m: Math.floor((s % 3600) / 60) })
}

export function formatClock(iso: string): string {
  const date = new Date(iso)
  const now = new Date()
  const pad = (n: number) => String(n).padStart(2, '0')
  const time = `${pad(date.getHours())}:${pad(date.getMinutes())}`
  if (date.toDateString() === now.toDateString()) return time
  return `${date.getMonth() + 1}-${pad(date.getDate())} ${time}`
}

export function formatDateTime(iso: string | null | undefined): string {
  if (!iso) return '—'
  const d = new Date(iso)
  const pad = (n: number) => String(n).padStart(2, '0')
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`
}

/** "Chrome 120 · Windows" from a user agent string; good enough for a side panel. */
export function describeDevice(userAgent: string | null | undefined): string {
  if (!userAgent) return '—'
  const ua = userAgent
  const browser =
    /Edg\/(\d+)/.exec(ua)?.[0].replace('Edg/', 'Edge ') ??
    /MicroMessenger\/([\d.]+)/.exec(ua)?.[0].replace('MicroMessenger/', 'WeChat ') ??
    /(?:Chrome|Chromium)\/(\d+)/.exec(ua)?.[0].replace(/(Chrome|Chromium)\//, '$1 ') ??
    /Firefox\/(\d+)/.exec(ua)?.[0].replace('Firefox/', 'Firefox ') ??
    (/Safari\//.test(ua) ? 'Safari' : t('visitor.unknownBrowser'))
  const os = /Windows/.test(ua)
    ? 'Windows'
    : /iPhone|iPad/.test(ua)
      ? 'iOS'
      : /Android/.test(ua)
        ? 'Android'
        : /Mac OS X/.test(ua)
          ? 'macOS'
          : /Linux/.test(ua)
            ? 'Linux'
            : t('visitor.unknownOs')
  const mobile = /Mobi|Android|iPhone/.test(ua) ? ` · ${t('visitor.mobile')}` : ''
  return `${browser} · ${os}${mobile}`
}
