// The visitor widget: plain TypeScript, one minified IIFE at src/kefu/web/static/widget.js.
import { defineConfig } from 'vite'

export default defineConfig({
  publicDir: false,
  build: {
    outDir: '../src/kefu/web/static',
    emptyOutDir: false,
    target: 'es2018',
    minify: 'esbuild',
    sourcemap: false,
    lib: {
      entry: 'widget/main.ts',
      name: 'KefuWidget',
      formats: ['iife'],
      fileName: () => 'widget.js',
    },
  },
})
