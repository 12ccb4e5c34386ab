let counter = 0

/** A short id unique within this process: `<prefix>-<base36 time><counter>`. */
export function newId(prefix: string): string {
  counter = (counter + 1) % 1_679_616
  return `${prefix}-${Date.now().toString(36)}${counter.toString(36).padStart(4, '0')}`
}
