/**
 * luarocks' version rules (luarocks/core/vers.lua and queries.lua), so the
 * sandbox installer picks the same rock luarocks would: `0.10.0-1` is newer
 * than `0.9.0-1`, `3.0rc1-2` older than `3.0-1`, `scm`/`dev` newest of all.
 */

/** A parsed version: numeric parts and the rockspec revision (`-1`), if any. */
export interface RockVersion {
  readonly text: string
  readonly parts: readonly number[]
  readonly revision: number | undefined
}

// What luarocks gives words in versions; other words count by their first letter.
const DELTAS: Readonly<Record<string, number>> = {
  dev: 120_000_000,
  scm: 110_000_000,
  cvs: 100_000_000,
  rc: -1000,
  pre: -10_000,
  beta: -100_000,
  alpha: -1_000_000,
}

const NUMBER_PART = /(\d+)[._-]*/y
const WORD_PART = /([A-Za-z]+)[._-]*/y

/** Parses a version string as `luarocks.core.vers.parse_version` does. */
export function parseVersion(text: string): RockVersion {
  let v = text.trim()
  let revision: number | undefined
  const rev = /^(.*)-(\d+)$/.exec(v)
  if (rev) {
    v = rev[1] ?? ''
    revision = Number(rev[2])
  }
  const parts: number[] = []
  let i = 0
  // A number following a word adds to the word's slot (`rc1` → -1000 + 1e-5), as in luarocks.
  const addNumber = (n: number) => {
    parts[i] = parts[i] === undefined ? n : (parts[i] as number) + n / 100_000
    i++
  }
  // Sticky patterns walk the text once (versions come from rock servers).
  for (let at = 0; at < v.length; ) {
    NUMBER_PART.lastIndex = at
    const num = NUMBER_PART.exec(v)
    if (num) {
      addNumber(Number(num[1]))
      at = NUMBER_PART.lastIndex
      continue
    }
    WORD_PART.lastIndex = at
    const word = WORD_PART.exec(v)
    if (!word) {
      parts[i] = 0
      break
    }
    const w = word[1] ?? ''
    parts[i] = DELTAS[w] ?? w.charCodeAt(0) / 1000
    at = WORD_PART.lastIndex
  }
  return { text: text.trim(), parts, revision }
}

/** Negative when `a` is older than `b`, positive when newer, 0 when luarocks sees them as equal. */
export function compareVersions(a: RockVersion | string, b: RockVersion | string): number {
  const x = typeof a === 'string' ? parseVersion(a) : a
  const y = typeof b === 'string' ? parseVersion(b) : b
  const n = Math.max(x.parts.length, y.parts.length)
  for (let i = 0; i < n; i++) {
    const xi = x.parts[i] ?? 0
    const yi = y.parts[i] ?? 0
    if (xi !== yi) return xi < yi ? -1 : 1
  }
  if (x.revision !== undefined && y.revision !== undefined && x.revision !== y.revision) {
    return x.revision < y.revision ? -1 : 1
  }
  return 0
}

/** One constraint of a dependency: `>= 1.0`, `~> 2.1`, ... */
export interface VersionConstraint {
  op: '==' | '~=' | '>' | '<' | '>=' | '<=' | '~>'
  version: RockVersion
}

/** A rockspec dependency: `bio_compute >= 0.1.0`. */
export interface Dependency {
  name: string
  constraints: VersionConstraint[]
  /** As written in the rockspec. */
  text: string
}

const OPERATORS: Readonly<Record<string, VersionConstraint['op']>> = {
  '==': '==',
  '~=': '~=',
  '>': '>',
  '<': '<',
  '>=': '>=',
  '<=': '<=',
  '~>': '~>',
  '': '==',
  '=': '==',
  '!=': '~=',
}

const CONSTRAINT = /@?([<>=~!]*)\s*([A-Za-z0-9._-]+)[\s,]*/y

/** Parses a constraint list (`>= 1.0, < 2.0`); throws with the text on a bad one. */
export function parseConstraints(input: string): VersionConstraint[] {
  const constraints: VersionConstraint[] = []
  const text = input.trim()
  for (let at = 0; at < text.length; ) {
    CONSTRAINT.lastIndex = at
    const m = CONSTRAINT.exec(text)
    const op = m ? OPERATORS[m[1] ?? ''] : undefined
    if (!m || !op) throw new Error(`cannot parse version constraint '${input}'`)
    constraints.push({ op, version: parseVersion(m[2] ?? '') })
    at = CONSTRAINT.lastIndex
  }
  return constraints
}

/**
 * Parses a rockspec dependency (`name >= 1.0`) as luarocks'
 * `queries.from_dep_string` does; a namespace (`ns/name`) is dropped.
 */
export function parseDependency(text: string): Dependency {
  const m = /^\s*((?:[A-Za-z0-9._-]*\/)?[A-Za-z0-9][A-Za-z0-9._-]*)\s*([^/]*)$/.exec(text)
  if (!m) throw new Error(`cannot read dependency '${text}'`)
  const full = m[1] ?? ''
  return { name: full.slice(full.indexOf('/') + 1), constraints: parseConstraints(m[2] ?? ''), text: text.trim() }
}

/** Whether `version` satisfies every constraint (luarocks' `match_constraints`). */
export function satisfies(version: RockVersion | string, constraints: readonly VersionConstraint[]): boolean {
  const v = typeof version === 'string' ? parseVersion(version) : version
  return constraints.every((c) => {
    switch (c.op) {
      case '==':
        return equalVersions(v, c.version)
      case '~=':
        return !equalVersions(v, c.version)
      case '>':
        return compareVersions(v, c.version) > 0
      case '<':
        return compareVersions(v, c.version) < 0
      case '>=':
        return compareVersions(v, c.version) >= 0
      case '<=':
        return compareVersions(v, c.version) <= 0
      case '~>':
        return partialMatch(v, c.version)
    }
    return false
  })
}

/** The constraints as text, for messages (`>= 0.1.0, < 1`). */
export function constraintText(constraints: readonly VersionConstraint[]): string {
  return constraints.map((c) => `${c.op} ${c.version.text}`).join(', ')
}

// luarocks' __eq: same number of parts, all equal; revisions only when both have one.
function equalVersions(a: RockVersion, b: RockVersion): boolean {
  if (a.parts.length !== b.parts.length) return false
  for (let i = 0; i < a.parts.length; i++) if (a.parts[i] !== b.parts[i]) return false
  return a.revision === undefined || b.revision === undefined || a.revision === b.revision
}

// `~> 2.1`: the parts given must match (2.1, 2.1.3), others are free.
function partialMatch(version: RockVersion, requested: RockVersion): boolean {
  for (let i = 0; i < requested.parts.length; i++) {
    if (requested.parts[i] !== (version.parts[i] ?? 0)) return false
  }
  return requested.revision === undefined || requested.revision === version.revision
}
