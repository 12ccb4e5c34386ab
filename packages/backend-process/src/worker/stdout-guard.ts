/**
 * Lua run once in every fresh driver whose code can start processes
 * (non-sandbox VMs, or sandboxes granted `os`/`io`). The interpreter's
 * stdout is the driver's frame channel, and a child process inherits it:
 * `os.execute("echo hi")` would write "hi" into the middle of the protocol.
 * The guard points the standard output of such children at stderr (which
 * the host captures as the execution's stderr) by prefixing `exec 1>&2`,
 * a shell redirection that cannot change what the command itself does.
 * `io.popen(cmd, "r")` keeps its pipe: only write-mode popen children
 * inherit the channel.
 */
export const STDOUT_GUARD_LUA = `
local type, tostring = type, tostring
local function guard(lib, name, wrap)
  if type(lib) == "table" and type(lib[name]) == "function" then lib[name] = wrap(lib[name]) end
end
local REDIRECT = "exec 1>&2\\n"
guard(os, "execute", function(real)
  return function(cmd, ...)
    if type(cmd) ~= "string" and type(cmd) ~= "number" then return real(cmd, ...) end
    return real(REDIRECT .. tostring(cmd), ...)
  end
end)
guard(io, "popen", function(real)
  return function(cmd, mode, ...)
    if (type(cmd) == "string" or type(cmd) == "number") and type(mode) == "string" and mode:find("w", 1, true) then
      return real(REDIRECT .. tostring(cmd), mode, ...)
    end
    return real(cmd, mode, ...)
  end
end)
`

/** True when Lua code of this VM can start child processes, so the guard is needed. */
export function needsStdoutGuard(sandbox: boolean, grants: readonly string[]): boolean {
  return !sandbox || grants.includes('os') || grants.includes('io')
}
