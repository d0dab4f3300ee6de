// Golden tests of the expression language against a real erl (OTP 25), driven by
// tests/golden/eval_golden.erl over the corpora tests/golden/eval_*_corpus.txt:
//  - parse: erl_scan:string + erl_parse:parse_exprs give exactly nodus's abstract format, with
//    line annotations and with {Line, Column} ones; syntax errors have erl's message and place;
//  - values: erl_eval evaluates each expression of a corpus (arithmetic, bignums, floats,
//    comparisons, patterns, BIFs, lists, maps, binaries, exceptions) to exactly nodus's value
//    or exception;
//  - shell errors: the shell's text for each exception (erl_error:format_exception as
//    shell:report_exception calls it) is nodus's text, byte for byte.
// Each corpus runs in one erl, started and stopped by the test (stopped by its PID).
#include <gtest/gtest.h>

#include <fstream>
#include <optional>
#include <tuple>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "child_process.hpp"
#include "nodus/etf/etf.hpp"
#include "nodus/eval/eval.hpp"
#include "nodus/eval/exports.hpp"
#include "nodus/eval/parse.hpp"
#include "nodus/runtime/runtime.hpp"
#include "nodus/term/text.hpp"

using namespace nodus;
using namespace nodus::literals;
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

// The corpus entries, split as eval_golden:entries/1 splits them.
std::vector<std::string> corpus(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    std::string all = ss.str();
    std::vector<std::string> lines;
    std::size_t start = 0;
    for (;;) {
        std::size_t nl = all.find('\n', start);
        if (nl == std::string::npos) {
            lines.push_back(all.substr(start));
            break;
        }
        lines.push_back(all.substr(start, nl - start));
        start = nl + 1;
    }
    std::vector<std::string> entries;
    std::string cur;
    bool keep = false, any = false;
    auto flush = [&] {
        if (keep) {
            while (!cur.empty() && cur.back() == '\n')
                cur.pop_back();
            entries.push_back(cur);
        }
        cur.clear();
        any = false;
    };
    for (const std::string& l : lines) {
        if (l == "%%--") {
            flush();
            keep = true;
            continue;
        }
        if (any) cur += "\n";
        cur += l;
        any = true;
    }
    flush();
    return entries;
}

struct erl_line {
    std::string kind;
    std::size_t index;
    std::vector<std::string> fields;  // decoded from hex (except plain words)
};

struct erl_run {
    std::string error;
    std::vector<erl_line> lines;
};

// all_hex: every field is hex (values, shell texts); otherwise short fields are plain words.
erl_run run_erl(const std::string& erl, const std::string& function, const std::string& corpus_path,
                bool all_hex = false) {
    erl_run run;
    std::string src = erl_string_literal(NODUS_EVAL_GOLDEN_ERL_SOURCE);
    test::erl_options o;
    o.eval = "case compile:file(" + src +
             ", [binary, return_errors]) of "
             "{ok, M, B} -> {module, M} = code:load_binary(M, " +
             src + ", B), M:" + function + "(" + erl_string_literal(corpus_path) +
             "); "
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
    std::size_t seen = 0;
    std::istringstream in(out);
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream ls(line);
        erl_line l;
        ls >> l.kind;
        if (l.kind == "END") {
            ls >> announced;
            continue;
        }
        // Other lines (a logger report of a process an entry crashed, ...) are not ours.
        if (l.kind != "P" && l.kind != "V" && l.kind != "S") continue;
        if (!(ls >> l.index)) continue;
        std::string f;
        while (ls >> f) {
            std::string decoded;
            if (unhex(f, decoded) && (all_hex || f.size() > 8))
                l.fields.push_back(decoded);
            else
                l.fields.push_back(f);
        }
        ++seen;
        run.lines.push_back(std::move(l));
    }
    if (announced == 0) run.error = "erl did not finish:\n" + out.substr(0, 4000);
    return run;
}

std::string show(const term& t) {
    return to_text(t, {print_style::w});
}

term decode(const std::string& etf_bytes) {
    auto t = etf::decode(as_bytes(etf_bytes));
    EXPECT_TRUE(t.has_value()) << (t ? "" : t.error().message());
    return t ? *t : term();
}

// The result nodus gives in the shape eval_golden:parse_one/2 writes.
term nodus_parse(const std::string& text, bool columns) {
    eval::parse_options o;
    o.columns = columns;
    auto r = eval::parse_exprs(text, o);
    switch (r.status) {
        case eval::parse_status::complete:
            return tuple("ok"_a, r.exprs);
        case eval::parse_status::incomplete:
            return "incomplete"_a;
        case eval::parse_status::error: {
            term loc =
                columns ? tuple(static_cast<long long>(r.error.line), static_cast<long long>(r.error.column))
                        : term(static_cast<long long>(r.error.line));
            return tuple("error"_a, loc, string(r.error.message));
        }
    }
    return term();
}

}  // namespace

TEST(eval_golden, parser_gives_erl_parse_abstract_format) {
    NODUS_REQUIRE_ERL(erl);
    std::string path = NODUS_EVAL_GOLDEN_DIR "/eval_parse_corpus.txt";
    auto entries = corpus(path);
    ASSERT_GE(entries.size(), 200u);
    erl_run run = run_erl(erl, "parse", path);
    ASSERT_TRUE(run.error.empty()) << run.error;
    ASSERT_EQ(run.lines.size(), 2 * entries.size());
    std::size_t ok = 0, errors = 0, failures = 0;
    for (const erl_line& l : run.lines) {
        ASSERT_EQ(l.kind, "P");
        ASSERT_LT(l.index, entries.size());
        ASSERT_EQ(l.fields.size(), 2u);
        bool columns = l.fields[0] == "column";
        const std::string& text = entries[l.index];
        term want = decode(l.fields[1]);
        term got = nodus_parse(text, columns);
        if (want.is_tuple() && want[0].is_atom("scan_error"_a)) {
            // The tokenizer's own messages differ from erl_scan's; it must reject the text too.
            EXPECT_TRUE(got.is_tuple() && got[0].is_atom("error"_a)) << text;
            continue;
        }
        (want[0].is_atom("ok"_a) ? ok : errors)++;
        if (!(got == want) && ++failures < 40)
            ADD_FAILURE() << "entry " << l.index << (columns ? " (columns)" : " (lines)") << ":\n"
                          << text << "\n  erl:   " << show(want) << "\n  nodus: " << show(got);
    }
    EXPECT_EQ(failures, 0u);
    EXPECT_GE(ok, 300u);
    EXPECT_GE(errors, 40u);
}

namespace {

// What nodus says about one corpus entry, computed in a fresh process (as eval_golden.erl does
// in erl): {value, V} or {Class, Reason}, and the shell's text of the exception (or ~tp of the
// value).
struct nodus_answer {
    term result;
    std::string shell_text;
};

task<> evaluate_entry(std::string text, pid reply_to) {
    term result;
    std::string shell_text;
    auto r = eval::parse_exprs(text);
    if (r.status != eval::parse_status::complete) {
        result = tuple("parse_failed"_a, string(r.error.message));
    } else {
        eval::bindings bs;
        std::optional<std::tuple<exception_class, term, term>> failure;
        try {
            term v = co_await eval::eval_exprs(r.exprs, bs);
            result = tuple("value"_a, v);
            shell_text = eval::pretty_text(v, 1, self().node());
        } catch (const erlang_exception& e) {
            failure.emplace(e.kind(), e.reason(), eval::stacktrace_of(e));
        }
        if (failure) {
            auto& [c, reason, stack] = *failure;
            result = tuple(eval::class_atom(c), reason);
            shell_text = eval::format_shell_exception(c, reason, stack);
        }
    }
    send(reply_to.as_term(), tuple(result, binary(shell_text)));
}

class nodus_evaluator {
public:
    nodus_evaluator() : rt_(runtime_options{.threads = 2}), me_(rt_) {
        eval::register_standard_exports(rt_.exports());
        eval::register_net_exports(rt_.exports());
    }
    nodus_answer answer(const std::string& text) {
        rt_.spawn(evaluate_entry, text, me_.self());
        auto m = me_.receive(std::chrono::seconds(30));
        if (!m) return {"timeout"_a, "timeout"};
        return {(*m)[0], std::string((*m)[1].as_string_view())};
    }

private:
    runtime rt_;
    scoped_process me_;
};

}  // namespace

TEST(eval_golden, evaluator_gives_erl_eval_values_and_exceptions) {
    NODUS_REQUIRE_ERL(erl);
    std::string path = NODUS_EVAL_GOLDEN_DIR "/eval_values_corpus.txt";
    auto entries = corpus(path);
    ASSERT_GE(entries.size(), 200u);
    erl_run run = run_erl(erl, "values", path, true);
    ASSERT_TRUE(run.error.empty()) << run.error;
    ASSERT_EQ(run.lines.size(), entries.size());
    nodus_evaluator ev;
    std::size_t values = 0, exceptions = 0, failures = 0;
    for (const erl_line& l : run.lines) {
        ASSERT_EQ(l.kind, "V");
        ASSERT_LT(l.index, entries.size());
        ASSERT_EQ(l.fields.size(), 1u);
        term want = decode(l.fields[0]);
        ASSERT_FALSE(want.is_tuple(2) && want[0].is_atom("crashed"_a)) << entries[l.index];
        (want[0].is_atom("value"_a) ? values : exceptions)++;
        term got = ev.answer(entries[l.index]).result;
        if (!(got == want) && ++failures < 40)
            ADD_FAILURE() << "entry " << l.index << ":\n"
                          << entries[l.index] << "\n  erl:   " << show(want) << "\n  nodus: " << show(got);
    }
    EXPECT_EQ(failures, 0u);
    EXPECT_GE(values, 150u);
    EXPECT_GE(exceptions, 40u);
}

TEST(eval_golden, shell_exception_text_is_erls) {
    NODUS_REQUIRE_ERL(erl);
    std::string path = NODUS_EVAL_GOLDEN_DIR "/eval_shell_errors_corpus.txt";
    auto entries = corpus(path);
    ASSERT_GE(entries.size(), 60u);
    erl_run run = run_erl(erl, "shell_errors", path, true);
    ASSERT_TRUE(run.error.empty()) << run.error;
    ASSERT_EQ(run.lines.size(), entries.size());
    nodus_evaluator ev;
    std::size_t failures = 0, reports = 0;
    for (const erl_line& l : run.lines) {
        ASSERT_EQ(l.kind, "S");
        ASSERT_LT(l.index, entries.size());
        ASSERT_EQ(l.fields.size(), 1u);
        const std::string& want = l.fields[0];
        if (want.starts_with("** exception")) ++reports;
        std::string got = ev.answer(entries[l.index]).shell_text;
        if (got != want && ++failures < 40)
            ADD_FAILURE() << "entry " << l.index << ":\n"
                          << entries[l.index] << "\n  erl:\n" << want << "\n  nodus:\n" << got;
    }
    EXPECT_EQ(failures, 0u);
    EXPECT_GE(reports, 60u);
}
