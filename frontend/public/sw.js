// kefu service worker: makes the workspace installable and shows the cached shell when offline.
// Everything else goes to the network: chats are live, never served from a cache.
const CACHE = 'kefu-shell-v1'

self.addEventListener('install', (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.add('/')).catch(() => undefined))
  self.skipWaiting()
})

self.addEventListener('activate', (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  )
})

self.addEventListener('fetch', (event) => {
  const request = event.request
  if (request.mode !== 'navigate') return
  event.respondWith(
    fetch(request).catch(() => caches.match('/').then((cached) => cached || Response.error())),
  )
})
