// Entry of widget.js: <script src="https://HOST/widget.js" data-key="WIDGET_KEY" async></script>
// Optional: data-group="GROUP_ID" (route to a group), data-lang="en" (English; default 简体中文).
import { Widget } from './widget'

declare global {
  interface Window {
    __kefuWidget?: Widget
  }
}

function findScript(): HTMLScriptElement | null {
  const current = document.currentScript as HTMLScriptElement | null
  if (current?.dataset.key) return current
  return document.querySelector<HTMLScriptElement>('script[data-key][src*="widget.js"]')
}

function start(): Widget | undefined {
  if (window.__kefuWidget) return window.__kefuWidget
  const script = findScript()
  const key = script?.dataset.key
  if (!script || !key) {
    console.warn('kefu widget: the script tag needs a data-key attribute')
    return undefined
  }
  const group = Number(script.dataset.group)
  const widget = new Widget({
    key,
    origin: new URL(script.src, location.href).origin,
    group: Number.isInteger(group) && group > 0 ? group : null,
    lang: script.dataset.lang || 'zh-CN',
  })
  window.__kefuWidget = widget
  const mount = () => widget.mount()
  if (document.body) mount()
  else document.addEventListener('DOMContentLoaded', mount, { once: true })
  return widget
}

const instance = start()

/** For the host page: KefuWidget.open() / KefuWidget.close(). */
export function open(): void {
  instance?.open()
}

export function close(): void {
  instance?.close()
}
