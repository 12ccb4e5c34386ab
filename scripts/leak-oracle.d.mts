/** A process or temp entry the tests left behind. */
export interface Leak {
  kind: string
  what: string
}
/** What looks like ours and was made since `since` (ms epoch). */
export function findLeaks(since: number): Leak[]
