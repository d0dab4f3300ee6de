// etf: encode and decode throughput of five term mixes, nodus (etf::encode / etf::decode)
// against the BEAM (term_to_binary/1 / binary_to_term/1).
//
// The BEAM side (nodus_bench_erl.erl) generates the mixes and writes each term as
// term_to_binary/1 encoded it; nodus decodes those very bytes into its terms and checks that it
// encodes them back to the same bytes. Then, for each mix and operation, the BEAM times its work
// and nodus the same work: every term of the mix, `rounds` times over, one encode (decode) call
// per term, median of `reps` after one warm-up round.
//
// MB/s is 10^6 bytes of external term format (version byte included) per second; for encode
// the bytes are each side's own output, for decode the BEAM's bytes on both sides.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "harness.hpp"
#include "nodus/etf/etf.hpp"
#include "nodus/term/term.hpp"

namespace nodus::bench {

namespace fs = std::filesystem;

namespace {

struct mix {
    std::string name;
    int rounds = 0;
    std::vector<std::uint8_t> file;  // <<Len:32, Bytes>>... as the BEAM wrote it
    std::vector<byte_span> blobs;    // each term's bytes (into file)
    std::vector<term> terms;         // the same terms, decoded by nodus
    std::size_t bytes = 0;           // sum of blob sizes
};

std::vector<std::uint8_t> read_file(const fs::path& p) {
    std::vector<std::uint8_t> data(fs::file_size(p));
    std::FILE* f = std::fopen(p.c_str(), "rb");
    if (!f) throw std::runtime_error("cannot read " + p.string());
    std::size_t got = std::fread(data.data(), 1, data.size(), f);
    std::fclose(f);
    if (got != data.size()) throw std::runtime_error("short read of " + p.string());
    return data;
}

// Reads DIR/manifest ("NAME ROUNDS TERMS BYTES" per line) and DIR/NAME.bin, decodes every term.
std::vector<mix> load_mixes(const fs::path& dir) {
    std::ifstream manifest(dir / "manifest");
    if (!manifest) throw std::runtime_error("the BEAM side wrote no manifest in " + dir.string());
    std::vector<mix> mixes;
    std::string line;
    while (std::getline(manifest, line)) {
        std::istringstream fields(line);
        mix m;
        std::size_t count = 0, bytes = 0;
        if (!(fields >> m.name >> m.rounds >> count >> bytes))
            throw std::runtime_error("bad manifest line: " + line);
        m.file = read_file(dir / (m.name + ".bin"));
        byte_reader r(byte_span(m.file.data(), m.file.size()));
        std::uint32_t len;
        byte_span blob;
        while (r.u32(len)) {
            if (!r.bytes(len, blob)) throw std::runtime_error(m.name + ".bin is truncated");
            auto t = etf::decode(blob);
            if (!t) throw std::runtime_error(m.name + ": nodus cannot decode a term: " + t.error().message());
            m.blobs.push_back(blob);
            m.terms.push_back(std::move(*t));
            m.bytes += blob.size();
        }
        if (m.blobs.size() != count || m.bytes != bytes)
            throw std::runtime_error(m.name + ".bin does not match the manifest");
        mixes.push_back(std::move(m));
    }
    return mixes;
}

// nodus must write what term_to_binary/1 writes. The one expected difference: the BEAM writes
// the keys of a map above 32 entries in its hash order, nodus in term order; those encodings
// have the same size and decode to the same map. Anything else is reported (and measured anyway).
void check_round_trip(const mix& m) {
    std::size_t same = 0, reordered = 0, different = 0;
    for (std::size_t i = 0; i < m.terms.size(); ++i) {
        std::vector<std::uint8_t> mine = etf::encode(m.terms[i]);
        byte_span theirs = m.blobs[i];
        if (mine.size() == theirs.size() && std::equal(mine.begin(), mine.end(), theirs.begin())) {
            ++same;
            continue;
        }
        auto back = etf::decode(byte_span(mine.data(), mine.size()));
        if (mine.size() == theirs.size() && back && *back == m.terms[i]) {
            ++reordered;
            continue;
        }
        if (different++ == 0)
            std::fprintf(stderr, "etf: WARNING: %s term %zu: nodus writes %zu bytes, term_to_binary/1 %zu\n",
                         m.name.c_str(), i, mine.size(), theirs.size());
    }
    std::string note;
    if (reordered) note += ", " + std::to_string(reordered) + " with map keys in another order";
    if (different) note += ", " + std::to_string(different) + " DIFFERENTLY";
    std::fprintf(stderr,
                 "etf: %-12s %zu terms, %zu bytes per round; nodus re-encodes %zu byte-identically%s\n",
                 m.name.c_str(), m.terms.size(), m.bytes, same, note.c_str());
}

}  // namespace

void run_etf(context& ctx) {
    std::fprintf(stderr, "etf: the BEAM generates the mixes...\n");
    // No busy waiting of idle schedulers: one Erlang process does all the work here, and on a
    // loaded 2-core machine the spinning schedulers would take CPU from the one that works (it
    // made the BEAM's figures up to 2x worse under load; on an idle machine it changes nothing).
    erl_session beam(ctx.erl, "etf", {ctx.work_dir.string(), std::to_string(ctx.reps)},
                     std::chrono::seconds(300), {"+sbwt", "none", "+sbwtdcpu", "none", "+sbwtdio", "none"});
    std::vector<mix> mixes = load_mixes(ctx.work_dir);
    for (const mix& m : mixes)
        check_round_trip(m);

    // Per mix and operation, the BEAM measures, then nodus: both within a few seconds of each other.
    for (mix& m : mixes) {
        std::fprintf(stderr, "etf: %s...\n", m.name.c_str());
        const std::size_t calls = m.terms.size() * static_cast<std::size_t>(m.rounds);
        json params = json::object({{"mix", m.name},
                                    {"reps", ctx.reps},
                                    {"rounds", m.rounds},
                                    {"terms", static_cast<unsigned long>(m.terms.size())}});
        std::vector<sample> results;
        auto add = [&](std::string_view metric, double value, std::string_view unit) {
            results.push_back({"nodus", "etf", std::string(metric), value, std::string(unit), params});
        };

        // Encode: one byte_writer per mix, reused for every call (clear() keeps its capacity), as a
        // connection's send path reuses its buffer; etf::encode appends 131 and the term. (Not one
        // writer for all mixes: etf::encode currently zero-fills the writer's whole capacity on
        // every call, so after a 1 MiB term every small term would pay a 1 MiB memset.)
        std::vector<sample> beam_results = beam.request("measure " + m.name + " encode");
        byte_writer w;
        std::size_t enc_bytes = 0;
        double enc = median_seconds(ctx.reps, [&] {
            std::size_t total = 0;
            for (int r = 0; r < m.rounds; ++r) {
                for (const term& t : m.terms) {
                    w.clear();
                    etf::encode(t, w);
                    total += w.size();
                }
            }
            enc_bytes = total;
        });
        add("encode_mb_per_s", static_cast<double>(enc_bytes) / enc / 1e6, "MB/s");
        add("encode_terms_per_s", static_cast<double>(calls) / enc, "terms/s");

        // Decode: from the BEAM's bytes; each term is dropped (freed) at once, as a receiver
        // would after handling a message. Default options: binaries are copied out of the input,
        // as binary_to_term/1 does (decode_options::owner would share them instead).
        for (sample& s : beam.request("measure " + m.name + " decode"))
            beam_results.push_back(std::move(s));
        std::size_t decoded = 0;
        double dec = median_seconds(ctx.reps, [&] {
            std::size_t n = 0;
            for (int r = 0; r < m.rounds; ++r) {
                for (byte_span b : m.blobs) {
                    auto t = etf::decode(b);
                    if (!t) throw std::runtime_error(m.name + ": decode failed: " + t.error().message());
                    n += t->is_boxed() ? 1 : 0;
                }
            }
            decoded = n;
        });
        (void)decoded;
        const std::size_t dec_bytes = m.bytes * static_cast<std::size_t>(m.rounds);
        add("decode_mb_per_s", static_cast<double>(dec_bytes) / dec / 1e6, "MB/s");
        add("decode_terms_per_s", static_cast<double>(calls) / dec, "terms/s");

        for (const sample& s : results) {
            const sample* e = find_sample(beam_results, "erlang", "etf", s.metric, s.params);
            if (!e)
                throw std::runtime_error("the BEAM side did not report " + s.metric + " " + s.params.dump());
            ctx.out.compare(s, *e, better::higher);
        }
    }
    beam.finish();
    ctx.out.print_table("etf (MB = 10^6 bytes of external term format)");
}

}  // namespace nodus::bench
