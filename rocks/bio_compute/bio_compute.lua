--- bio_compute: small sequence-analysis helpers for DNA/RNA text.
-- Pure Lua, no dependencies; runs on Lua 5.1-5.4, LuaJIT and fengari.
-- Sequences are strings of IUPAC letters; case is ignored, whitespace and
-- digits (as in FASTA/GenBank bodies) are skipped.

local M = { _VERSION = "0.1.0" }

local function clean(seq)
  if type(seq) ~= "string" then
    error("bio_compute: expected a sequence string, got " .. type(seq), 3)
  end
  return (seq:upper():gsub("[%s%d]", ""))
end

--- Normalises a sequence: upper case, whitespace and digits removed.
function M.normalize(seq)
  return clean(seq)
end

--- Fraction of G and C bases among A/C/G/T/U bases (0 for an empty sequence).
function M.gc_content(seq)
  local s = clean(seq)
  local gc, counted = 0, 0
  for i = 1, #s do
    local b = s:sub(i, i)
    if b == "G" or b == "C" then
      gc = gc + 1
      counted = counted + 1
    elseif b == "A" or b == "T" or b == "U" then
      counted = counted + 1
    end
  end
  if counted == 0 then return 0 end
  return gc / counted
end

local complement = {
  A = "T", T = "A", G = "C", C = "G", U = "A", N = "N",
  R = "Y", Y = "R", S = "S", W = "W", K = "M", M = "K",
  B = "V", V = "B", D = "H", H = "D",
}

--- Reverse complement of a DNA sequence (IUPAC aware; U pairs with A).
function M.reverse_complement(seq)
  local s = clean(seq)
  local out = {}
  for i = #s, 1, -1 do
    local b = s:sub(i, i)
    local c = complement[b]
    if not c then error("bio_compute: not a nucleotide: '" .. b .. "'", 2) end
    out[#out + 1] = c
  end
  return table.concat(out)
end

--- DNA to RNA: T becomes U.
function M.transcribe(seq)
  return (clean(seq):gsub("T", "U"))
end

-- The standard genetic code (NCBI table 1), codons in RNA letters.
local code = {}
do
  local bases = "UCAG"
  local aminos = "FFLLSSSSYY**CC*WLLLLPPPPHHQQRRRRIIIMTTTTNNKKSSRRVVVVAAAADDEEGGGG"
  local n = 0
  for i = 1, 4 do
    for j = 1, 4 do
      for k = 1, 4 do
        n = n + 1
        code[bases:sub(i, i) .. bases:sub(j, j) .. bases:sub(k, k)] = aminos:sub(n, n)
      end
    end
  end
end

--- Translates a DNA or RNA sequence to a protein string, codon by codon.
-- Options: `to_stop` (stop at the first stop codon, excluded). Unknown codons
-- become "X"; stops are "*"; a trailing partial codon is ignored.
function M.translate(seq, opts)
  local s = clean(seq):gsub("T", "U")
  local to_stop = opts and opts.to_stop
  local out = {}
  for i = 1, #s - 2, 3 do
    local aa = code[s:sub(i, i + 2)] or "X"
    if aa == "*" and to_stop then break end
    out[#out + 1] = aa
  end
  return table.concat(out)
end

--- Counts of each codon (DNA letters) in reading frame 1, plus the total.
function M.codon_usage(seq)
  local s = clean(seq):gsub("U", "T")
  local counts, total = {}, 0
  for i = 1, #s - 2, 3 do
    local c = s:sub(i, i + 2)
    counts[c] = (counts[c] or 0) + 1
    total = total + 1
  end
  return counts, total
end

--- 1-based start positions of every (overlapping) occurrence of `motif`.
-- The motif is literal text (not a Lua pattern); IUPAC N in the motif
-- matches any base.
function M.find_motif(seq, motif)
  local s, m = clean(seq), clean(motif)
  if #m == 0 then error("bio_compute: empty motif", 2) end
  local hits = {}
  for i = 1, #s - #m + 1 do
    local ok = true
    for j = 1, #m do
      local want = m:sub(j, j)
      if want ~= "N" and want ~= s:sub(i + j - 1, i + j - 1) then
        ok = false
        break
      end
    end
    if ok then hits[#hits + 1] = i end
  end
  return hits
end

--- Counts of every k-mer (overlapping) in the sequence.
function M.kmer_counts(seq, k)
  if type(k) ~= "number" or k < 1 or k % 1 ~= 0 then
    error("bio_compute: k must be a positive integer", 2)
  end
  local s = clean(seq)
  local counts = {}
  for i = 1, #s - k + 1 do
    local kmer = s:sub(i, i + k - 1)
    counts[kmer] = (counts[kmer] or 0) + 1
  end
  return counts
end

return M
