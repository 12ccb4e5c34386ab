rockspec_format = "3.0"
package = "bio_compute"
version = "0.1.0-1"
source = {
   url = "git+https://github.com/bioxen/bioxen-luavm.git",
   tag = "bio_compute-0.1.0",
   dir = "bioxen-luavm/rocks/bio_compute",
}
description = {
   summary = "Small sequence-analysis helpers: GC content, reverse complement, transcription, translation, motifs, k-mers",
   detailed = "Pure Lua, no dependencies; runs on Lua 5.1-5.4, LuaJIT and fengari. The example package of bioxen-luavm.",
   license = "MIT",
   labels = { "bioinformatics", "dna" },
}
dependencies = {
   "lua >= 5.1",
}
build = {
   type = "builtin",
   modules = {
      bio_compute = "bio_compute.lua",
   },
}
test = {
   type = "command",
   script = "spec/bio_compute_test.lua",
}
