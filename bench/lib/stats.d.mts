export function quantile(xs: number[], q: number): number
export function median(xs: number[]): number
export function timeEach(n: number, fn: (i: number) => unknown): Promise<number[]>
export function fmt(ms: number): string
export function ratio(a: number, b: number): string
export function mdTable(header: string[], rows: string[][]): string
export function verdict(ok: boolean): string
export const sorted: (xs: number[]) => number[]
