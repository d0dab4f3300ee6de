// docs/tutorial.md, run as written: every `$ nodus shell ...` / `$ erl ...` line of a ```console
// block starts a terminal (a real process with piped stdin, on a private epmd), and every
// `(name@myhost)N> Expr` line of an ```erlang block is typed into that terminal, in document
// order (iex: `iex(name@myhost)N> Expr` in ```elixir blocks); the lines after it are the output it must print. `myhost` is this machine's short host
// name; pids print differently on every run and are compared as <PID>. `q().` ends a terminal
// (and `System.halt()` an iex; the test waits for the process to exit). So the tutorial cannot rot.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "child_process.hpp"
#include "cluster.hpp"

using namespace nodus::test;
using namespace std::chrono_literals;

namespace {

struct step {
    int line = 0;            // in the tutorial, for messages
    std::string terminal;    // alive part of the node name
    std::string command;     // `$ ...` line (starts the terminal) or an expression
    bool start = false;
    std::vector<std::string> expected;
};

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
    for (std::size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size()))
        s.replace(at, from.size(), to);
    return s;
}

std::vector<std::string> words(const std::string& s) {
    std::istringstream in(s);
    std::vector<std::string> w;
    for (std::string x; in >> x;) w.push_back(x);
    return w;
}

bool all_digits(std::string_view s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// A shell prompt "(name@host)N> " at s[at]: its length, or 0. (No std::regex: g++ 12 warns inside it.)
std::size_t prompt_at(std::string_view s, std::size_t at) {
    if (at >= s.size() || s[at] != '(') return 0;
    std::size_t close = s.find(')', at);
    if (close == std::string_view::npos) return 0;
    std::string_view node = s.substr(at + 1, close - at - 1);
    std::size_t amp = node.find('@');
    if (amp == 0 || amp == std::string_view::npos || node.find(' ') != std::string_view::npos) return 0;
    std::size_t gt = s.find("> ", close);
    if (gt == std::string_view::npos || !all_digits(s.substr(close + 1, gt - close - 1))) return 0;
    return gt + 2 - at;
}

// The first prompt in s: {position, length}; length 0 when there is none.
std::pair<std::size_t, std::size_t> find_prompt(std::string_view s) {
    for (std::size_t at = s.find('('); at != std::string_view::npos; at = s.find('(', at + 1))
        if (std::size_t n = prompt_at(s, at)) {
            if (at >= 3 && s.substr(at - 3, 3) == "iex") return {at - 3, n + 3};  // iex(name@host)N>
            return {at, n};
        }
    return {s.size(), 0};
}

std::vector<step> parse_tutorial(const std::string& path, const std::string& host) {
    std::ifstream in(path);
    EXPECT_TRUE(in.good()) << "cannot read " << path;
    std::vector<step> steps;
    std::string fence;  // the open block's info string; empty outside blocks
    bool in_block = false;
    int n = 0;
    for (std::string line; std::getline(in, line);) {
        ++n;
        if (line.rfind("```", 0) == 0) {
            in_block = !in_block;
            fence = in_block ? line.substr(3) : "";
            continue;
        }
        if (!in_block) continue;
        // Erlang prompts "(name@myhost)N> ", iex's "iex(name@myhost)N> ".
        std::size_t skip = line.rfind("iex(", 0) == 0 ? 3 : 0;
        std::size_t prompt_len = prompt_at(line, skip);
        if (prompt_len) prompt_len += skip;
        bool session = fence == "erlang" || fence == "elixir";
        if (fence == "console" && line.rfind("$ ", 0) == 0) {
            step s;
            s.line = n;
            s.command = replace_all(line.substr(2), "myhost", host);
            s.start = true;
            auto w = words(s.command);
            for (std::size_t i = 0; i + 1 < w.size(); ++i)
                if (w[i] == "-sname" || w[i] == "--sname") s.terminal = w[i + 1];
            EXPECT_FALSE(s.terminal.empty()) << "line " << n << ": a terminal without -sname";
            steps.push_back(std::move(s));
        } else if (session && prompt_len > 0) {
            step s;
            s.line = n;
            s.terminal = line.substr(skip + 1, line.find('@') - skip - 1);
            s.command = replace_all(line.substr(prompt_len), "myhost", host);
            steps.push_back(std::move(s));
        } else if (session && !steps.empty() && !steps.back().start) {
            steps.back().expected.push_back(replace_all(line, "myhost", host));
        }
    }
    return steps;
}

// Pids (<A.B.C>) as <PID>; trailing blanks dropped.
std::string normalize(const std::string& line) {
    std::string s;
    for (std::size_t i = 0; i < line.size();) {
        std::size_t end = line[i] == '<' ? line.find('>', i) : std::string::npos;
        if (end != std::string::npos) {
            std::string_view inner(line.data() + i + 1, end - i - 1);
            std::size_t d1 = inner.find('.'), d2 = d1 == std::string_view::npos ? d1 : inner.find('.', d1 + 1);
            if (d2 != std::string_view::npos && all_digits(inner.substr(0, d1)) &&
                all_digits(inner.substr(d1 + 1, d2 - d1 - 1)) && all_digits(inner.substr(d2 + 1))) {
                s += "<PID>";
                i = end + 1;
                continue;
            }
        }
        s += line[i++];
    }
    while (!s.empty() && (s.back() == ' ' || s.back() == '\r')) s.pop_back();
    return s;
}

// One terminal: a nodus shell (prints each result, no prompts, when stdin is a pipe) or an erl
// shell (prints its prompts; a result is what comes between two prompts).
class terminal {
public:
    terminal(const std::string& name, std::vector<std::string> argv, bool erl, std::uint16_t epmd_port)
        : name_(name), erl_(erl) {
        spawn_options so;
        so.argv = std::move(argv);
        so.env = {{"ERL_EPMD_PORT", std::to_string(epmd_port)}, {"HOME", ::testing::TempDir()}};
        so.err = stderr_mode::capture;
        proc_ = std::make_unique<child_process>(so);
        if (erl_) (void)until_prompt();  // the banner
    }
    ~terminal() {
        if (proc_->running()) {
            proc_->close_stdin();
            if (!proc_->wait(10s)) proc_->stop();
        }
    }

    // Types expr; the output lines it printed. A nodus shell on a pipe prints no prompts: a marker
    // atom typed after expr ends its output, so that one wrong step does not shift the others.
    std::vector<std::string> type(const std::string& expr) {
        if (erl_) {
            proc_->write(expr + "\n");
            return until_prompt();
        }
        std::string marker = "tutorial_step_done_" + std::to_string(++steps_);
        proc_->write(expr + "\n" + marker + ".\n");
        std::vector<std::string> out;
        for (;;) {
            auto l = proc_->read_line(20s);
            if (!l || *l == marker) break;
            out.push_back(*l);
        }
        return out;
    }
    bool quit(const std::string& command) {
        proc_->write(command + "\n");
        auto st = proc_->wait(20s);
        return st && st->ok();
    }
    std::string errors() { return proc_->stderr_text(); }

private:
    std::vector<std::string> until_prompt() {
        auto deadline = std::chrono::steady_clock::now() + 20s;
        while (find_prompt(buf_).second == 0 && std::chrono::steady_clock::now() < deadline &&
               !proc_->stdout_closed())
            buf_ += proc_->read_all(100ms);
        auto [at, len] = find_prompt(buf_);
        std::string text = buf_.substr(0, at);
        buf_ = len ? buf_.substr(at + len) : std::string();
        std::vector<std::string> lines;
        std::istringstream in(text);
        for (std::string l; std::getline(in, l);) lines.push_back(l);
        return lines;
    }

    std::string name_;
    bool erl_;
    std::unique_ptr<child_process> proc_;
    std::string buf_;
    int steps_ = 0;
};

TEST(tutorial, every_step_of_docs_tutorial_md_works_as_written) {
    NODUS_REQUIRE_ERL(erl);
    epmd_daemon epmd;
    const std::string host = short_host();
    auto steps = parse_tutorial(NODUS_TUTORIAL, host);
    ASSERT_GT(steps.size(), 40u) << "the tutorial lost its steps?";
    std::map<std::string, std::unique_ptr<terminal>> terms;
    std::string last_terminal;
    for (const step& s : steps) {
        SCOPED_TRACE("docs/tutorial.md:" + std::to_string(s.line) + ": " + s.command);
        if (s.start) {
            auto argv = words(s.command);
            // erl and iex print prompts; a nodus shell on a pipe does not.
            bool prompts = argv[0] == "erl" || argv[0] == "iex";
            // Loopback only, as every test here (the reader's nodes listen as they like).
            std::vector<std::string> loopback = {"-kernel", "inet_dist_use_interface", "{127,0,0,1}"};
            if (argv[0] == "nodus") {
                argv[0] = NODUS_CLI;
            } else if (argv[0] == "erl") {
                argv[0] = erl;
            } else if (argv[0] == "iex") {
                auto iex = find_program("iex");
                ASSERT_TRUE(iex) << "iex (Debian's elixir package, scripts/deps installs it) is not installed";
                argv[0] = *iex;
                loopback = {"--erl", "-kernel inet_dist_use_interface {127,0,0,1}"};
            } else {
                FAIL() << "a console line that is not nodus, erl or iex";
            }
            argv.insert(argv.end(), loopback.begin(), loopback.end());
            terms[s.terminal] = std::make_unique<terminal>(s.terminal, argv, prompts, epmd.port());
            continue;
        }
        auto it = terms.find(s.terminal);
        ASSERT_NE(it, terms.end()) << "no terminal " << s.terminal;
        // A reader takes a moment to switch terminals; messages sent from the other one arrive
        // meanwhile.
        if (s.terminal != last_terminal) std::this_thread::sleep_for(300ms);
        last_terminal = s.terminal;
        if (s.command == "q()." || s.command == "System.halt()") {
            EXPECT_TRUE(it->second->quit(s.command)) << it->second->errors();
            terms.erase(it);
            continue;
        }
        auto got = it->second->type(s.command);
        std::vector<std::string> want, have;
        for (auto& l : s.expected) want.push_back(normalize(l));
        for (auto& l : got) have.push_back(normalize(l));
        EXPECT_EQ(have, want) << it->second->errors();
    }
}

}  // namespace
