import { createApp } from 'vue'
import { createPinia } from 'pinia'
import 'element-plus/theme-chalk/base.css'
import 'element-plus/theme-chalk/el-message.css'
import 'element-plus/theme-chalk/el-message-box.css'
import 'element-plus/theme-chalk/el-notification.css'
import 'element-plus/theme-chalk/el-loading.css'
import { ElLoading } from 'element-plus'
import App from './App.vue'
import router from './router'
import { setUnauthorizedHandler } from './api/client'
import { useSession } from './auth/session'
import './styles.css'

const app = createApp(App)
app.use(createPinia())
app.use(router)
app.use(ElLoading)

setUnauthorizedHandler(() => {
  useSession().forget()
  if (router.currentRoute.value.name !== 'login') void router.push({ name: 'login' })
})

app.mount('#app')

if ('serviceWorker' in navigator && import.meta.env.PROD) {
  window.addEventListener('load', () => {
    navigator.serviceWorker.register('/sw.js').catch(() => undefined)
  })
}
