// Fails the build when the widget script is over its budget (30 KB gzipped).
import { readFileSync } from 'node:fs'
import { gzipSync } from 'node:zlib'
import { fileURLToPath } from 'node:url'

const LIMIT = 30 * 1024
const path = fileURLToPath(new URL('../../src/kefu/web/static/widget.js', import.meta.url))
const raw = readFileSync(path)
const gz = gzipSync(raw, { level: 9 }).length
const kb = (n) => (n / 1024).toFixed(1) + ' KB'
console.log(`widget.js: ${kb(raw.length)} raw, ${kb(gz)} gzipped (limit ${kb(LIMIT)})`)
if (gz > LIMIT) {
  console.error('widget.js is over its 30 KB gzip budget')
  process.exit(1)
}
