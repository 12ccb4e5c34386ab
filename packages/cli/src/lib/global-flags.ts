/** Flags every command sees. */
export interface GlobalFlags {
  config?: string
  plugin?: string[]
}
