// Sound and desktop notifications: a new visitor always chimes; messages chime while the tab is hidden.
import type { Conversation, Message } from '@/api/types'
import { t } from '@/i18n'
import { messagePreview } from './format'

const SOUND_KEY = 'kefu.sound'
let audio: AudioContext | null = null

export function soundEnabled(): boolean {
  return localStorage.getItem(SOUND_KEY) !== 'off'
}

export function setSoundEnabled(on: boolean): void {
  localStorage.setItem(SOUND_KEY, on ? 'on' : 'off')
}

/** Call from a click: browsers only let pages make sound and ask for notifications after a gesture. */
export function unlockAlerts(): void {
  try {
    audio ??= new AudioContext()
    if (audio.state === 'suspended') void audio.resume()
  } catch {
    audio = null
  }
  if ('Notification' in window && Notification.permission === 'default') {
    void Notification.requestPermission()
  }
}

function chime(): void {
  if (!soundEnabled() || !audio || audio.state !== 'running') return
  const now = audio.currentTime
  for (const [offset, frequency] of [
    [0, 880],
    [0.16, 1320],
  ]) {
    const osc = audio.createOscillator()
    const gain = audio.createGain()
    osc.frequency.value = frequency
    gain.gain.setValueAtTime(0.0001, now + offset)
    gain.gain.exponentialRampToValueAtTime(0.2, now + offset + 0.02)
    gain.gain.exponentialRampToValueAtTime(0.0001, now + offset + 0.3)
    osc.connect(gain).connect(audio.destination)
    osc.start(now + offset)
    osc.stop(now + offset + 0.32)
  }
}

function desktop(title: string, body: string, tag: string): void {
  if (!('Notification' in window) || Notification.permission !== 'granted') return
  try {
    const notification = new Notification(title, { body, tag, icon: '/icon-192.png' })
    notification.onclick = () => {
      window.focus()
      notification.close()
    }
  } catch {
    // Some browsers only allow notifications from a service worker; the sound still plays.
  }
}

export function notifyNewVisitor(conversation: Conversation): void {
  chime()
  if (document.hidden) {
    desktop(t('notify.newVisitor'), conversation.room, `conversation-${conversation.id}`)
  }
}

export function notifyNewMessage(conversation: Conversation, message: Message): void {
  if (!document.hidden) return
  chime()
  desktop(t('notify.newMessage', { room: conversation.room }), messagePreview(message), `message-${conversation.id}`)
}
