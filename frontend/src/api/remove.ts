// Removing something the admin or agent confirmed first: the dialog, the DELETE, the toasts.
import { ElMessage, ElMessageBox } from 'element-plus'
import { t } from '@/i18n'
import { api, errorMessage } from './client'

/** Asks `question`; on yes, DELETEs `path`. True when it is gone. */
export async function removeAfterConfirm(question: string, path: string): Promise<boolean> {
  try {
    await ElMessageBox.confirm(question, t('common.delete'), { type: 'warning' })
    await api.delete(path)
    ElMessage.success(t('common.deleted'))
    return true
  } catch (error) {
    if (error !== 'cancel' && error !== 'close') ElMessage.error(errorMessage(error))
    return false
  }
}
