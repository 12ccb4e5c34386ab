/** A process, listening socket or temp entry the tests left behind. */
export interface Leak {
  kind: string
  what: string
}
/** Where {@link findLeaks} looks. */
export interface FindLeaksOptions {
  /** Only processes below this pid (the caller's own tree on a shared machine). */
  root?: number
  /** Temp directory to scan (default `os.tmpdir()`). */
  tmp?: string
}
/** What looks like ours and was made since `since` (ms epoch). */
export function findLeaks(since: number, options?: FindLeaksOptions): Leak[]
/** Pids below `root`, from /proc parent links. */
export function descendantsOf(root: number): number[]
