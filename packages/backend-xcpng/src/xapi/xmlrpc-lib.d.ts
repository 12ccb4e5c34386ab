// xmlrpc 1.3.2 ships its serializer and deserializer as plain CommonJS files
// without typings; these are the two entry points the transport uses.
declare module 'xmlrpc/lib/serializer.js' {
  const serializer: {
    serializeMethodCall(method: string, params: unknown[], encoding?: string): string
  }
  export default serializer
}

declare module 'xmlrpc/lib/deserializer.js' {
  import type { Readable } from 'node:stream'

  class Deserializer {
    constructor(encoding?: string)
    stack: unknown[]
    value: boolean
    push(value: unknown): void
    endDateTime(data: string): void
    deserializeMethodResponse(
      stream: Readable,
      callback: (error: Error | null | undefined, value?: unknown) => void,
    ): void
  }
  export default Deserializer
}
