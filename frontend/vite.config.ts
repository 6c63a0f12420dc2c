// The agent workspace and admin center: a Vue SPA built into the Python package.
import { fileURLToPath, URL } from 'node:url'
import { defineConfig } from 'vite'
import vue from '@vitejs/plugin-vue'
import Components from 'unplugin-vue-components/vite'
import { ElementPlusResolver } from 'unplugin-vue-components/resolvers'

const backend = process.env.KEFU_DEV_BACKEND ?? 'http://127.0.0.1:8765'

export default defineConfig({
  base: '/',
  plugins: [
    vue(),
    // Element Plus components are imported on demand with their own CSS.
    Components({ resolvers: [ElementPlusResolver({ importStyle: 'css' })], dts: 'src/components.d.ts' }),
  ],
  resolve: { alias: { '@': fileURLToPath(new URL('./src', import.meta.url)) } },
  // No manualChunks: forcing Element Plus into one chunk defeats its tree shaking (800 KB vs 230 KB).
  build: {
    outDir: '../src/kefu/web/static/app',
    emptyOutDir: true,
    target: 'es2020',
    chunkSizeWarningLimit: 900,
  },
  server: {
    proxy: {
      '/api': backend,
      '/uploads': backend,
      '/widget.js': backend,
      '/demo': backend,
      '/ws': { target: backend.replace('http', 'ws'), ws: true },
    },
  },
})
