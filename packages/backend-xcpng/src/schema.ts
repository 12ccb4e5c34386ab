import { type ConfigSchema, MAX_TIMEOUT_MS } from '@bioxen-luavm/core'

const uuidOrName = 'a uuid or a name label'
// What `ssh-keygen -lf` prints (the prefix and base64 padding optional), as ssh/host-key.ts accepts it.
const SSH_FINGERPRINT = /^(?:SHA256:)?[A-Za-z0-9+/]{43}=*$/i

/**
 * Config keys of the `xcpng` backend. The first twelve are the original
 * library's `xcpng_config.json` keys, unchanged, so that file keeps working;
 * the rest are new. Environment variables: `LUAVM_XCPNG_<KEY>` for every
 * key, plus the aliases listed in `env`.
 */
export const xcpngConfigSchema: ConfigSchema = {
  // ---- the original keys --------------------------------------------------
  xapi_url: {
    type: 'string',
    required: true,
    description: 'XAPI endpoint of the pool master, e.g. https://xcp-host.example/',
    pattern: /^https?:\/\/[^\s/]+/,
    env: ['XAPI_URL'],
  },
  username: {
    type: 'string',
    required: true,
    description:
      'XAPI user: root, or an RBAC user with vm-admin (vm-power-admin when vm_memory is set: VM.set_memory_limits needs it)',
    env: ['XCPNG_USERNAME', 'XCP_USERNAME'],
  },
  password: {
    type: 'string',
    required: true,
    secret: true,
    description: 'XAPI password',
    env: ['XCPNG_PASSWORD', 'XCP_PASSWORD'],
  },
  pool_uuid: {
    type: 'string',
    description: 'uuid of the pool; when set, the backend refuses to work on any other pool',
    pattern: /^[0-9a-f-]{36}$/i,
  },
  template_name: {
    type: 'string',
    description: `template to clone (${uuidOrName}); required unless attach_vm is set`,
    env: ['XCPNG_TEMPLATE', 'XCP_TEMPLATE'],
  },
  vm_name_prefix: {
    type: 'string',
    default: 'bioxen',
    description: 'prefix of VM names: <prefix>-<vm id>-<nonce>',
    pattern: /^[A-Za-z0-9._-]{1,40}$/,
  },
  network_uuid: {
    type: 'string',
    description: `network for an extra VIF (${uuidOrName}); unset keeps the template's VIFs`,
  },
  storage_repository: {
    type: 'string',
    description: `SR for the VM's disks (${uuidOrName}); set means a full VM.copy there, unset a fast clone on the template's SR`,
  },
  ssh_user: {
    type: 'string',
    required: true,
    description: 'user to log in as on the guest',
    env: ['XCPNG_SSH_USER', 'VM_USERNAME'],
  },
  ssh_key_path: {
    type: 'string',
    description: 'private key file for SSH (or use ssh_agent)',
    env: ['XCPNG_SSH_KEY', 'VM_KEY_FILE'],
  },
  vm_memory: {
    type: 'size',
    description: 'guest memory, e.g. "2GB"; unset keeps the template\'s (setting it needs the vm-power-admin role)',
    min: 64 * 1024 * 1024,
  },
  vm_vcpus: { type: 'integer', description: "vCPUs; unset keeps the template's", min: 1, max: 64 },

  // ---- TLS -----------------------------------------------------------------
  ca: { type: 'string', description: 'PEM CA bundle (or the host certificate itself) to trust for XAPI' },
  ca_file: { type: 'string', description: 'file with a PEM CA bundle to trust for XAPI', env: ['XAPI_CA_FILE'] },
  fingerprint: {
    type: 'string[]',
    description: 'pinned SHA-256 fingerprint(s) of the XAPI certificate (openssl x509 -fingerprint -sha256)',
    env: ['XAPI_FINGERPRINT'],
  },
  insecure: {
    type: 'boolean',
    default: false,
    description: 'accept any XAPI certificate (warned about loudly; never in production)',
  },

  // ---- SSH -----------------------------------------------------------------
  ssh_port: { type: 'integer', default: 22, min: 1, max: 65535, description: 'sshd port on the guest' },
  ssh_host_key: {
    type: 'string[]',
    description: 'pinned SHA256:… host key fingerprint(s) of the guest (templates keep their host keys across clones)',
    check: (value) => {
      const bad = (value as string[]).find((f) => !SSH_FINGERPRINT.test(f.trim()))
      return bad === undefined ? undefined : `'${bad}' is not a SHA256 fingerprint (expected SHA256:<43 base64 chars>)`
    },
  },
  known_hosts_path: { type: 'string', description: 'known_hosts file to verify guest host keys against' },
  ssh_accept_new_host_key: {
    type: 'boolean',
    default: false,
    description: 'trust an unknown host key on first use and pin it for the VM lifetime (warned about)',
  },
  ssh_private_key: { type: 'string', secret: true, description: 'private key text, instead of ssh_key_path' },
  ssh_key_passphrase: {
    type: 'string',
    secret: true,
    description: 'passphrase of the private key',
    env: ['XCPNG_SSH_KEY_PASSPHRASE'],
  },
  ssh_agent: { type: 'string', description: 'ssh-agent socket for authentication (e.g. $SSH_AUTH_SOCK)' },

  // ---- guest ---------------------------------------------------------------
  attach_vm: {
    type: 'string',
    description: `use an existing running VM (${uuidOrName}) instead of cloning; it is never shut down or destroyed`,
  },
  guest_uuid_path: {
    type: 'string',
    default: '/sys/hypervisor/uuid',
    description:
      "file where the guest shows its own VM uuid; after SSH connects it must equal XAPI's, so a clone that took another VM's IP is refused",
    pattern: /^\/[A-Za-z0-9._/-]+$/,
  },
  lua_executable: {
    type: 'string',
    default: 'lua5.4',
    description: 'Lua interpreter on the guest',
    pattern: /^[A-Za-z0-9._/+-]+$/,
  },
  sandbox: {
    type: 'boolean',
    default: true,
    description: 'run user code in the sandbox environment of the Lua runtime',
  },
  grants: { type: 'string[]', default: [], description: 'sandbox capabilities to re-enable (io, os, require, …)' },
  luarocks_tree: {
    type: 'string',
    default: '.luavm/rocks',
    description: "luarocks tree on the guest for installPackage (relative to the SSH user's home)",
    pattern: /^[A-Za-z0-9._/~-]+$/,
  },

  memory_limit_bytes: {
    type: 'size',
    min: 1024 * 1024,
    description:
      'memory cap of the Lua interpreter on the guest, e.g. "256MiB" (RLIMIT_AS through the guest\'s prlimit); executions may ask for less',
  },

  // ---- time limits and concurrency ----------------------------------------
  boot_timeout_ms: {
    type: 'integer',
    default: 180_000,
    min: 1,
    max: MAX_TIMEOUT_MS,
    description: 'wait for the guest IP and sshd after VM.start',
  },
  start_timeout_ms: {
    type: 'integer',
    default: 600_000,
    min: 1,
    max: MAX_TIMEOUT_MS,
    description: 'whole start(): clone, provision, boot, SSH',
  },
  shutdown_timeout_ms: {
    type: 'integer',
    default: 60_000,
    min: 1,
    max: MAX_TIMEOUT_MS,
    description: 'clean shutdown before falling back to hard shutdown',
  },
  call_timeout_ms: {
    type: 'integer',
    default: 60_000,
    min: 1,
    max: MAX_TIMEOUT_MS,
    description: 'deadline of one XAPI call',
  },
  kill_grace_ms: {
    type: 'integer',
    // The soft stop's result must cross the network before the host gives
    // up on it: one round trip, with room for a slow link (not 2x a deadline).
    default: 500,
    min: 0,
    max: 60_000,
    description: 'how long past timeoutMs an execution may run before the remote process group is killed',
  },
  provision_concurrency: {
    type: 'integer',
    default: 4,
    min: 1,
    max: 64,
    description: 'VMs provisioned at once per XAPI endpoint by this process (clusters)',
  },
}
