// `nodus shell [node flags]`: the Erlang shell of nodus. On a terminal: prompt "(name@host)N> "
// (or "N> " without a node) as erl's, line editing and history by libedit (history kept in
// ~/.nodus_history). Otherwise (a pipe or a file) it reads expressions from stdin, prints each
// result, and exits at end of input. Ctrl-C (SIGINT), SIGTERM and Ctrl-D leave cleanly: the
// node stops (connections closed, unregistered from the port mapper) and the status is 0.
// halt(), q() and init:stop() leave too.
#include <histedit.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <clocale>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <cwchar>
#include <iostream>
#include <mutex>
#include <thread>

#include "commands.hpp"
#include "nodus/eval/session.hpp"

namespace nodus::tools {

namespace {

std::atomic<bool> stop_requested{false};
std::atomic<bool> evaluating{false};  // a command runs (a stop request must end it)

bool should_stop() {
    return stop_requested.load() || halt_requested().has_value();
}

void write_out(std::string_view text) {
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
}

// Waits until fd is readable (true) or the shell must stop (false), checking every 100 ms.
bool wait_readable(int fd) {
    for (;;) {
        if (should_stop()) return false;
        pollfd p{fd, POLLIN, 0};
        int r = ::poll(&p, 1, 100);
        if (r > 0) return true;
        if (r < 0 && errno != EINTR) return true;  // let read() report it
    }
}

// Reads one byte; 0 at end of input, -1 on an error or a stop request.
int read_byte(int fd, unsigned char& b) {
    if (!wait_readable(fd)) return -1;
    for (;;) {
        ssize_t n = ::read(fd, &b, 1);
        if (n == 1) return 1;
        if (n == 0) return 0;
        if (errno != EINTR) return -1;
    }
}

// libedit's character reader: UTF-8 from stdin, giving up when the shell must stop (so Ctrl-C
// and halt() end a pending el_gets).
int edit_getc(EditLine*, wchar_t* out) {
    unsigned char b;
    int r = read_byte(STDIN_FILENO, b);
    if (r <= 0) return r;
    std::uint32_t cp = b;
    int more = 0;
    if (b >= 0xF0) {
        cp = b & 0x07;
        more = 3;
    } else if (b >= 0xE0) {
        cp = b & 0x0F;
        more = 2;
    } else if (b >= 0xC0) {
        cp = b & 0x1F;
        more = 1;
    }
    for (int i = 0; i < more; ++i) {
        r = read_byte(STDIN_FILENO, b);
        if (r <= 0) return r;
        cp = (cp << 6) | (b & 0x3F);
    }
    *out = static_cast<wchar_t>(cp);
    return 1;
}

std::string prompt_text;
const char* edit_prompt(EditLine*) {
    return prompt_text.c_str();
}

// The signal thread: SIGINT, SIGTERM and SIGHUP ask the shell to stop; a command still running
// is ended by killing the evaluator.
class signal_watch {
public:
    explicit signal_watch(eval::session& sh, runtime& rt) : sh_(sh), rt_(rt) {
        thread_ = std::thread([this] { run(); });
    }
    ~signal_watch() {
        done_ = true;
        thread_.join();
    }

private:
    void run() {
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGINT);
        sigaddset(&set, SIGTERM);
        sigaddset(&set, SIGHUP);
        while (!done_) {
            timespec tick{0, 100 * 1000 * 1000};
            int sig = sigtimedwait(&set, nullptr, &tick);
            if (sig <= 0) continue;
            stop_requested = true;
            if (evaluating)
                if (auto ev = sh_.evaluator()) rt_.exit(*ev, term(atoms::kill));
        }
    }
    eval::session& sh_;
    runtime& rt_;
    std::atomic<bool> done_{false};
    std::thread thread_;
};

std::string prompt_for(const eval::session& sh, node* n) {
    std::string p;
    if (n) p = "(" + std::string(n->name().name()) + ")";
    return p + std::to_string(sh.command_number()) + "> ";
}

// Evaluates every complete command at the front of buffer; prints results as the shell does.
void run_ready(eval::session& sh, runtime& rt, std::string& buffer, bool at_end) {
    for (;;) {
        if (should_stop()) return;
        auto p = sh.parse(buffer);
        if (p.status == eval::parse_status::incomplete) {
            if (!at_end) return;
            bool blank = true;
            for (char c : buffer)
                if (c != ' ' && c != '\n' && c != '\t' && c != '\r') blank = false;
            if (blank) return;
            buffer += "\n.";
            p = sh.parse(buffer);
            if (p.status == eval::parse_status::incomplete) {
                write_out("* incomplete expression at end of input\n");
                buffer.clear();
                return;
            }
        }
        buffer.erase(0, p.consumed);
        // As erl, each command's lines count from 1: the white space after a dot goes with it.
        buffer.erase(0, std::min(buffer.size(), buffer.find_first_not_of(" \t\r\n")));
        if (p.status == eval::parse_status::error) {
            write_out(eval::session::format_error(p.error) + "\n");
            continue;
        }
        evaluating = true;
        if (should_stop()) {  // a signal just before `evaluating` was set
            evaluating = false;
            return;
        }
        eval::outcome o = sh.evaluate_blocking(p.exprs);
        evaluating = false;
        if (should_stop()) return;  // halt(), or the evaluator was killed to leave
        if (o.ok())
            write_out(value_text(o.value, rt.node()) + "\n");
        else
            write_out(o.text + "\n");
    }
}

// stdin is not a terminal: read it all, command by command, without prompts.
void run_piped(eval::session& sh, runtime& rt) {
    std::string buffer;
    char chunk[4096];
    for (;;) {
        if (!wait_readable(STDIN_FILENO)) return;
        ssize_t n = ::read(STDIN_FILENO, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        buffer.append(chunk, static_cast<std::size_t>(n));
        // Evaluate what is complete so far (the rest may still be typed by a script).
        run_ready(sh, rt, buffer, false);
    }
    run_ready(sh, rt, buffer, true);
}

std::string history_path() {
    const char* home = std::getenv("HOME");
    if (!home || !*home) return {};
    return std::string(home) + "/.nodus_history";
}

void run_terminal(eval::session& sh, runtime& rt, node* n, const char* argv0) {
    std::setlocale(LC_CTYPE, "");
    EditLine* el = el_init(argv0, stdin, stdout, stderr);
    History* hist = history_init();
    HistEvent ev;
    history(hist, &ev, H_SETSIZE, 1000);
    history(hist, &ev, H_SETUNIQUE, 1);
    std::string hpath = history_path();
    if (!hpath.empty()) history(hist, &ev, H_LOAD, hpath.c_str());
    el_set(el, EL_EDITOR, "emacs");
    el_set(el, EL_HIST, history, hist);
    el_set(el, EL_PROMPT, edit_prompt);
    el_set(el, EL_GETCFN, edit_getc);
    el_source(el, nullptr);  // ~/.editrc
    write_out(std::string("nodus shell on ") + std::string(rt.node().name()) +
              " (help() lists what is there; Ctrl-D or q(). leaves)\n");
    std::string buffer;
    for (;;) {
        if (should_stop()) break;
        prompt_text = prompt_for(sh, n);
        int count = 0;
        const char* line = el_gets(el, &count);
        if (!line || count <= 0) break;  // Ctrl-D, Ctrl-C, or a stop request
        std::string l(line);
        std::string entry = l;
        while (!entry.empty() && (entry.back() == '\n' || entry.back() == '\r')) entry.pop_back();
        if (!entry.empty()) history(hist, &ev, H_ENTER, entry.c_str());
        buffer += l;
        run_ready(sh, rt, buffer, false);
    }
    write_out("\n");
    if (!hpath.empty()) history(hist, &ev, H_SAVE, hpath.c_str());
    history_end(hist);
    el_end(el);
}

int usage(std::ostream& os, int status) {
    os << "Usage: nodus shell [node flags]\n"
          "The Erlang shell of nodus (on a node when -sname/-name is given). When stdin is not a\n"
          "terminal, it evaluates what it reads and prints each result.\n\n"
       << node_flags_help();
    return status;
}

}  // namespace

int shell_main(std::span<const std::string> args) {
    node_args na = parse_node_args(args);
    for (const std::string& a : na.rest) {
        if (a == "-h" || a == "--help") return usage(std::cout, 0);
        if (na.error.empty()) na.error = (a.starts_with("-") ? "unknown flag: " : "unexpected argument: ") + a;
    }
    if (!na.error.empty()) {
        std::cerr << "nodus shell: " << na.error << "\n";
        return usage(std::cerr, exit_usage);
    }
    // The signal thread takes SIGINT/SIGTERM/SIGHUP: block them before any thread starts.
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    std::string error;
    auto host = node_host::start(na, &error);
    if (!host) {
        std::cerr << "nodus shell: cannot start the node: " << error << "\n";
        return exit_node_failed;
    }
    {
        eval::session_options so;
        so.output = write_out;
        so.register_exports = false;
        eval::session sh(host->rt(), so);
        signal_watch watch(sh, host->rt());
        if (::isatty(STDIN_FILENO))
            run_terminal(sh, host->rt(), host->distributed(), "nodus");
        else
            run_piped(sh, host->rt());
    }
    host.reset();
    return halt_requested().value_or(0);
}

}  // namespace nodus::tools
