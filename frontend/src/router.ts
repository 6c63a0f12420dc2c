// Routes: login, the workspace, and the admin center (admins only).
import { createRouter, createWebHistory } from 'vue-router'
import { useSession } from '@/auth/session'

const router = createRouter({
  history: createWebHistory('/'),
  routes: [
    { path: '/login', name: 'login', component: () => import('@/auth/LoginPage.vue'), meta: { public: true } },
    {
      path: '/',
      component: () => import('@/layout/AppShell.vue'),
      children: [
        { path: '', name: 'workspace', component: () => import('@/workspace/WorkspacePage.vue') },
        {
          path: 'admin',
          component: () => import('@/admin/AdminLayout.vue'),
          meta: { admin: true },
          children: [
            { path: '', redirect: '/admin/agents' },
            { path: 'agents', name: 'admin-agents', component: () => import('@/admin/AgentsPage.vue') },
            { path: 'groups', name: 'admin-groups', component: () => import('@/admin/GroupsPage.vue') },
            { path: 'monitor', name: 'admin-monitor', component: () => import('@/admin/MonitorPage.vue') },
            { path: 'canned', name: 'admin-canned', component: () => import('@/admin/CannedRepliesPage.vue') },
            { path: 'kb', name: 'admin-kb', component: () => import('@/admin/KnowledgeBasePage.vue') },
            { path: 'settings', name: 'admin-settings', component: () => import('@/admin/SettingsPage.vue') },
            {
              path: 'offline-messages',
              name: 'admin-offline',
              component: () => import('@/admin/OfflineMessagesPage.vue'),
            },
          ],
        },
      ],
    },
    { path: '/:pathMatch(.*)*', redirect: '/' },
  ],
})

router.beforeEach(async (to) => {
  const session = useSession()
  const user = await session.restore()
  if (to.meta.public) return user && to.name === 'login' ? { path: '/' } : true
  if (!user) return { name: 'login', query: to.fullPath !== '/' ? { next: to.fullPath } : {} }
  if (to.matched.some((r) => r.meta.admin) && user.role !== 'admin') return { path: '/' }
  return true
})

export default router
