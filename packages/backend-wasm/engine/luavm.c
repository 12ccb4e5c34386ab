/*
** The embedding side of lua54.wasm (ours, compiled with Lua's sources by
** build.sh): a state whose allocator counts its bytes against a cap the
** host sets, and the host's end of the interrupt budget that
** interrupt.patch adds to the VM. Everything else the host calls is Lua's
** own C API (exports.txt).
*/
#include <stdlib.h>

#include "lua.h"
#include "lauxlib.h"
#include "lstate.h"
#include "ldo.h"

/* The host's interrupt (the loader's import env.luavm_interrupt): called
** with the state whose budget ran out; answers a new budget (> 0) to go on,
** or 0 to abort the run. It must not call back into Lua. */
__attribute__((import_module("env"), import_name("luavm_interrupt")))
extern int luavm_host_interrupt (lua_State *L);

int luai_interrupt (lua_State *L) {
  return luavm_host_interrupt(L);
}


/* Bytes a state holds and the most it may hold (0: no cap). */
typedef struct Heap {
  size_t used;
  size_t cap;
} Heap;


/* Lua's allocator contract (lua_Alloc) with a cap: growth past it fails,
** which Lua turns into an emergency collection, then LUA_ERRMEM. */
static void *capped_alloc (void *ud, void *ptr, size_t osize, size_t nsize) {
  Heap *h = (Heap *)ud;
  size_t old = ptr ? osize : 0;  /* without a block, osize is a type tag */
  void *p;
  if (nsize == 0) {
    free(ptr);
    h->used -= old;
    return NULL;
  }
  if (nsize > old && h->cap != 0 && nsize - old > h->cap - h->used)
    return NULL;
  p = realloc(ptr, nsize);
  if (p != NULL)
    h->used = h->used - old + nsize;
  return p;
}


/* An unprotected error has nowhere to go: trap, the host sees a RuntimeError. */
static int panic (lua_State *L) {
  (void)L;
  abort();
  return 0;
}


/* A new state with the counting allocator and no cap; NULL without memory. */
lua_State *luavm_newstate (void) {
  Heap *h = (Heap *)calloc(1, sizeof(Heap));
  lua_State *L;
  if (h == NULL) return NULL;
  L = lua_newstate(capped_alloc, h);
  if (L == NULL) {
    free(h);
    return NULL;
  }
  lua_atpanic(L, panic);
  return L;
}


static Heap *heap_of (lua_State *L) {
  void *ud;
  lua_getallocf(L, &ud);
  return (Heap *)ud;
}


/* Caps the state's heap at 'cap' bytes (0: no cap). A cap below what is
** already used refuses every growth until enough is freed. */
void luavm_setmemlimit (lua_State *L, size_t cap) {
  heap_of(L)->cap = cap;
}


/* Bytes the state holds now. */
size_t luavm_memused (lua_State *L) {
  return heap_of(L)->used;
}


/* Gives the state 'ticks' (> 0) before the next interrupt and clears an
** abort; the host calls it before every run. */
void luavm_setbudget (lua_State *L, int ticks) {
  global_State *g = G(L);
  g->budget = ticks > 0 ? ticks : 1;
  g->interrupted = 0;
}


/* 1 when the host aborted the current run (until luavm_setbudget). */
int luavm_interrupted (lua_State *L) {
  return G(L)->interrupted;
}


/* Closes the state (finalizers run under the same budget) and frees its account. */
void luavm_close (lua_State *L) {
  Heap *h = heap_of(L);
  lua_close(L);
  free(h);
}
