// A list the server pages (the canned-reply and knowledge-base tables): items, total, the
// current page and a loading flag; errors are shown as toasts.
import { ref, type Ref } from 'vue'
import { ElMessage } from 'element-plus'
import { api, errorMessage, type Query } from '@/api/client'
import type { Page } from '@/api/types'

export const PAGE_SIZE = 50

export function usePagedList<T>(path: string, params: () => Query) {
  const items = ref([]) as Ref<T[]>
  const total = ref(0)
  const page = ref(1)
  const loading = ref(false)

  async function load(): Promise<void> {
    loading.value = true
    try {
      const result = await api.get<Page<T>>(path, { ...params(), limit: PAGE_SIZE, offset: (page.value - 1) * PAGE_SIZE })
      items.value = result.items
      total.value = result.total
    } catch (error) {
      ElMessage.error(errorMessage(error))
    } finally {
      loading.value = false
    }
  }

  /** From the first page again (the filters changed). */
  function reload(): void {
    page.value = 1
    void load()
  }

  return { items, total, page, loading, load, reload }
}
