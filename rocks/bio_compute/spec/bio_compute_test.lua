-- Plain-Lua tests for bio_compute (no framework, so they run on every Lua,
-- LuaJIT and inside every backend). Run: lua5.4 spec/bio_compute_test.lua
package.path = "./?.lua;" .. package.path
local bio = require("bio_compute")

local failures, count = 0, 0
local function check(name, got, want)
  count = count + 1
  if got ~= want then
    failures = failures + 1
    io.stderr:write(("FAIL %s: got %s, want %s\n"):format(name, tostring(got), tostring(want)))
  end
end
local function raises(name, fn)
  count = count + 1
  if pcall(fn) then
    failures = failures + 1
    io.stderr:write("FAIL " .. name .. ": expected an error\n")
  end
end

check("gc ATGC", bio.gc_content("ATGC"), 0.5)
check("gc all GC", bio.gc_content("gggccc"), 1)
check("gc empty", bio.gc_content(""), 0)
check("gc ignores N and spaces", bio.gc_content("GC NN\nAT"), 0.5)
check("gc RNA", bio.gc_content("GCUA"), 0.5)
check("normalize", bio.normalize(" ac gt\n12 "), "ACGT")
check("revcomp", bio.reverse_complement("ATGCCG"), "CGGCAT")
check("revcomp IUPAC", bio.reverse_complement("RYN"), "NRY")
raises("revcomp rejects junk", function() bio.reverse_complement("AXG") end)
check("transcribe", bio.transcribe("ATGT"), "AUGU")
check("translate", bio.translate("ATGGCCATTGTAATGGGCCGCTGA"), "MAIVMGR*")
check("translate to_stop", bio.translate("ATGGCCTAAGGG", { to_stop = true }), "MA")
check("translate RNA", bio.translate("AUGUUU"), "MF")
check("translate partial codon", bio.translate("ATGGC"), "M")
check("translate unknown", bio.translate("ATGNNN"), "MX")
local usage, total = bio.codon_usage("ATGATGTAA")
check("codon usage ATG", usage.ATG, 2)
check("codon usage TAA", usage.TAA, 1)
check("codon total", total, 3)
local hits = bio.find_motif("GATATATC", "ATA")
check("motif count (overlapping)", #hits, 2)
check("motif first", hits[1], 2)
check("motif second", hits[2], 4)
check("motif with N", #bio.find_motif("GAATTCGACTTC", "GANTTC"), 2)
raises("motif empty", function() bio.find_motif("ACGT", "") end)
local k = bio.kmer_counts("AAAT", 2)
check("kmer AA", k.AA, 2)
check("kmer AT", k.AT, 1)
raises("kmer bad k", function() bio.kmer_counts("ACGT", 0) end)
raises("not a string", function() bio.gc_content(42) end)

print(("%d checks, %d failed"):format(count, failures))
if failures > 0 then os.exit(1) end
