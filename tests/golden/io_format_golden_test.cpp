// Golden tests of io_lib:format/2 against a real erl (OTP 25), using
// tests/golden/io_format_cases.erl: for some 7,000 (Format, Args) pairs erl writes
// term_to_binary({Format, Args}) and the UTF-8 of io_lib:format(Format, Args) (or that it
// raised badarg, or returned something that is not chardata). nodus decodes the pair, formats
// it and must produce the same bytes, or the same kind of failure. erl runs twice: with its
// default printable range and with +pc unicode (which changes ~tp).
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "child_process.hpp"
#include "nodus/etf/etf.hpp"
#include "nodus/io/format.hpp"
#include "nodus/term/text.hpp"

using namespace nodus;
using namespace std::chrono_literals;

namespace {

bool unhex(std::string_view s, std::string& out) {
    auto nibble = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        return -1;
    };
    if (s.size() % 2) return false;
    out.resize(s.size() / 2);
    for (std::size_t i = 0; i < out.size(); ++i) {
        int hi = nibble(s[2 * i]), lo = nibble(s[2 * i + 1]);
        if (hi < 0 || lo < 0) return false;
        out[i] = static_cast<char>(hi << 4 | lo);
    }
    return true;
}

std::string erl_string_literal(const std::string& s) {
    std::string out = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\') out.push_back('\\');
        out.push_back(c);
    }
    return out + "\"";
}

// Shows non-ASCII and control bytes, for failure messages.
std::string visible(std::string_view s) {
    std::string out;
    for (unsigned char c : s) {
        if (c >= 32 && c < 127) {
            out.push_back(static_cast<char>(c));
        } else if (c == '\n') {
            out += "\\n";
        } else {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02X", c);
            out += buf;
        }
    }
    return out;
}

struct format_case {
    std::string etf;     // term_to_binary({Format, Args})
    std::string status;  // ok | badarg | nochars
    std::string text;    // when ok
};

struct golden_run {
    std::string error;
    std::string range;
    std::vector<format_case> cases;
};

golden_run run_erl(const std::string& erl, bool unicode_range) {
    golden_run run;
    std::string src = erl_string_literal(NODUS_IO_FORMAT_GOLDEN_ERL_SOURCE);
    test::erl_options o;
    if (unicode_range) o.args = {"+pc", "unicode"};
    o.eval = "case compile:file(" + src +
             ", [binary, return_errors]) of "
             "{ok, M, B} -> {module, M} = code:load_binary(M, " +
             src +
             ", B), M:main(); "
             "E -> io:format(\"COMPILE_ERROR ~p~n\", [E]), halt(2) end.";
    auto child = test::start_erl(erl, o);
    std::string out = child->read_all(300s);
    auto status = child->wait(60s);
    if (!status || !status->ok()) {
        run.error = "erl failed (" + (status ? status->describe() : std::string("no exit")) + ")\nstderr:\n" +
                    child->stderr_text().substr(0, 4000) + "\nstdout:\n" + out.substr(0, 4000);
        return run;
    }
    std::size_t announced = 0;
    std::string_view rest = out;
    while (!rest.empty()) {
        std::size_t nl = rest.find('\n');
        std::string_view line = rest.substr(0, nl);
        rest.remove_prefix(nl == std::string_view::npos ? rest.size() : nl + 1);
        if (line.empty()) continue;
        std::vector<std::string_view> parts;
        for (std::string_view s = line; !s.empty();) {
            std::size_t sp = s.find(' ');
            parts.push_back(s.substr(0, sp));
            s.remove_prefix(sp == std::string_view::npos ? s.size() : sp + 1);
        }
        bool ok = true;
        if (parts[0] == "RANGE" && parts.size() == 2) {
            run.range = std::string(parts[1]);
        } else if (parts[0] == "C" && (parts.size() == 3 || parts.size() == 4)) {
            format_case c;
            ok = unhex(parts[1], c.etf);
            c.status = std::string(parts[2]);
            if (c.status == "ok")  // an empty text leaves no fourth field
                ok = ok && (parts.size() == 3 || unhex(parts[3], c.text));
            else
                ok = ok && parts.size() == 3 && (c.status == "badarg" || c.status == "nochars");
            run.cases.push_back(std::move(c));
        } else if (parts[0] == "END" && parts.size() == 2) {
            announced = std::stoul(std::string(parts[1]));
        } else {
            ok = false;
        }
        if (!ok) {
            run.error = "malformed line from erl: " + std::string(line.substr(0, 300));
            return run;
        }
    }
    if (announced == 0 || announced != run.cases.size())
        run.error =
            "erl announced " + std::to_string(announced) + " cases, read " + std::to_string(run.cases.size());
    return run;
}

const golden_run& golden(const std::string& erl, bool unicode_range) {
    static std::map<bool, golden_run> runs;
    auto it = runs.find(unicode_range);
    if (it == runs.end()) it = runs.emplace(unicode_range, run_erl(erl, unicode_range)).first;
    return it->second;
}

std::string status_of(const result<std::string, io_lib::format_error>& r) {
    if (r) return "ok";
    switch (r.error().what) {
        case io_lib::format_error::kind::badarg:
            return "badarg";
        case io_lib::format_error::kind::not_chardata:
            return "nochars";
        case io_lib::format_error::kind::too_large:
            return "too_large";
    }
    return "?";
}

constexpr int max_reported = 40;

void check_run(const golden_run& run, bool unicode_range) {
    io_lib::format_options opts;
    opts.unicode_printable = unicode_range;
    int failures = 0;
    std::map<std::string, std::size_t> statuses;
    for (std::size_t i = 0; i < run.cases.size() && failures < max_reported; ++i) {
        const format_case& c = run.cases[i];
        auto pair = etf::decode(as_bytes(c.etf));
        ASSERT_TRUE(pair.has_value()) << "case " << i;
        ASSERT_TRUE(pair->is_tuple(2));
        const term& fmt = (*pair)[0];
        const term& args = (*pair)[1];
        auto r = io_lib::format(fmt, args, opts);
        std::string got = status_of(r);
        ++statuses[c.status];
        std::string what =
            "case " + std::to_string(i) + ": io_lib:format(" + format_w(fmt) + ", " + format_w(args) + ")";
        if (got != c.status) {
            ++failures;
            ADD_FAILURE() << what << "\n  erl:   " << c.status
                          << (c.status == "ok" ? " " + visible(c.text) : "") << "\n  nodus: " << got << " "
                          << (r ? visible(*r) : r.error().describe());
        } else if (r && *r != c.text) {
            ++failures;
            ADD_FAILURE() << what << "\n  erl:   " << visible(c.text) << "\n  nodus: " << visible(*r);
        }
    }
    // Failures of every kind must be in the corpus, or these tests test less than they claim.
    EXPECT_GE(statuses["badarg"], 100u);
    EXPECT_GE(statuses["nochars"], 5u);
    EXPECT_GE(statuses["ok"], 5000u);
}

#define NODUS_IO_GOLDEN(run, unicode)                  \
    NODUS_REQUIRE_ERL(erl_path);                       \
    const golden_run& run = golden(erl_path, unicode); \
    ASSERT_TRUE(run.error.empty()) << run.error;       \
    ASSERT_GE(run.cases.size(), 5000u);                \
    ASSERT_EQ(run.range, (unicode) ? "unicode" : "latin1");

}  // namespace

TEST(io_format_golden, formats_every_case_as_erl) {
    NODUS_IO_GOLDEN(run, false);
    check_run(run, false);
}

TEST(io_format_golden, formats_every_case_as_erl_with_unicode_printable_range) {
    NODUS_IO_GOLDEN(run, true);
    check_run(run, true);
}
