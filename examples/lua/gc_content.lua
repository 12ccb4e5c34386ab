-- GC content of a DNA sequence, per window and overall.
-- Runs unchanged on every backend: bioxen-luavm run examples/lua/gc_content.lua

local sequence = table.concat({
  "ATGGCGTACGCTAGCTAGGCTAACGTTAGCCGATCGATCGGCTAGCTAGCATCGATCGA",
  "TTAGCGCGCGATATATCGCGGCTAGCTAGGATCCGATCGATTTAAACGCGCGGGCCCAT",
})

local function gc_content(seq)
  local gc = 0
  for base in seq:gmatch("[GCgc]") do gc = gc + 1 end
  return gc / #seq
end

local window = 30
print(("sequence length: %d bases"):format(#sequence))
for start = 1, #sequence, window do
  local last = math.min(start + window - 1, #sequence)
  local piece = sequence:sub(start, last)
  print(("  window %3d-%3d  GC %5.1f%%"):format(start, last, gc_content(piece) * 100))
end
print(("overall GC content: %.2f%%"):format(gc_content(sequence) * 100))
