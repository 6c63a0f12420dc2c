// A tiny i18n: flat message keys, zh-CN by default, English on request; reactive through `locale`.
import { ref } from 'vue'
import zhCN from './zh-CN'
import en from './en'

export type Locale = 'zh-CN' | 'en'
export type MessageKey = keyof typeof zhCN

const dictionaries: Record<Locale, Record<MessageKey, string>> = { 'zh-CN': zhCN, en }
const STORAGE_KEY = 'kefu.locale'

function initialLocale(): Locale {
  const saved = localStorage.getItem(STORAGE_KEY)
  return saved === 'en' ? 'en' : 'zh-CN'
}

export const locale = ref<Locale>(initialLocale())
document.documentElement.lang = locale.value

export function setLocale(value: Locale): void {
  locale.value = value
  localStorage.setItem(STORAGE_KEY, value)
  document.documentElement.lang = value
}

/** The message for `key` in the current language, with `{name}` placeholders filled in. */
export function t(key: MessageKey, params?: Record<string, string | number>): string {
  let text: string = dictionaries[locale.value][key] ?? zhCN[key] ?? key
  if (params) text = text.replace(/\{(\w+)\}/g, (_, name: string) => String(params[name] ?? ''))
  return text
}

/** The Accept-Language header the API answers errors in. */
export function acceptLanguage(): string {
  return locale.value === 'en' ? 'en' : 'zh-CN'
}
