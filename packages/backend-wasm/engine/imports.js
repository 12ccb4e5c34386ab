// For emcc only (build.sh --js-library): declares luavm.c's host import so
// the link accepts it. lua54.wasm imports it as env.luavm_interrupt and the
// loader (src/engine/lua54-loader.ts) provides it; this body is never used.
mergeInto(LibraryManager.library, {
  luavm_interrupt: () => 0,
})
