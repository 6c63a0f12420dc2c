// Between the chat pane's editor and the side panel: the panel's canned replies and
// knowledge-base answers go where the agent is typing, and the editor can open a panel tab.
import { ref } from 'vue'

export type SideTab = 'visitor' | 'canned' | 'kb'

/** The side panel's tab on show. */
export const sideTab = ref<SideTab>('visitor')

let insert: ((text: string) => void) | null = null

/** The open conversation's editor takes inserts until the returned function is called. */
export function registerEditor(handler: (text: string) => void): () => void {
  insert = handler
  return () => {
    if (insert === handler) insert = null
  }
}

/** Puts `text` into the editor at the caret; false when no editor is open (a closed conversation). */
export function insertIntoEditor(text: string): boolean {
  if (!insert) return false
  insert(text)
  return true
}
