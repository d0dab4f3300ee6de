#include "harness.hpp"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <system_error>
#include <thread>

extern char** environ;

namespace nodus::bench {

namespace fs = std::filesystem;

// ---- JSON -------------------------------------------------------------------------------------

json json::object(std::initializer_list<std::pair<std::string_view, json>> members) {
    json o = object();
    for (const auto& [k, v] : members)
        o.set(k, v);
    return o;
}

void json::set(std::string_view key, json v) {
    for (std::size_t i = 0; i < keys_.size(); ++i) {
        if (keys_[i] == key) {
            items_[i] = std::move(v);
            return;
        }
    }
    keys_.emplace_back(key);
    items_.push_back(std::move(v));
}

const json* json::find(std::string_view key) const noexcept {
    for (std::size_t i = 0; i < keys_.size(); ++i)
        if (keys_[i] == key) return &items_[i];
    return nullptr;
}

bool operator==(const json& a, const json& b) noexcept {
    if (a.kind_ != b.kind_) return false;
    switch (a.kind_) {
        case json::kind::null:
            return true;
        case json::kind::boolean:
            return a.bool_ == b.bool_;
        case json::kind::number:
            return a.num_ == b.num_;
        case json::kind::string:
            return a.str_ == b.str_;
        case json::kind::array:
        case json::kind::object:
            return a.keys_ == b.keys_ && a.items_ == b.items_;
    }
    return false;
}

namespace {

void dump_string(std::string& out, std::string_view s) {
    out.push_back('"');
    for (char c : s) {
        switch (c) {
            case '"':
                out += "\\\"";
                break;
            case '\\':
                out += "\\\\";
                break;
            case '\n':
                out += "\\n";
                break;
            case '\t':
                out += "\\t";
                break;
            case '\r':
                out += "\\r";
                break;
            default:
                if (static_cast<unsigned char>(c) < 0x20) {
                    char buf[8];
                    std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
                    out += buf;
                } else {
                    out.push_back(c);
                }
        }
    }
    out.push_back('"');
}

class json_parser {
public:
    explicit json_parser(std::string_view text) : s_(text) {}

    std::optional<json> parse_all(std::string* error) {
        std::optional<json> v = value(0);
        skip_ws();
        if (v && pos_ != s_.size()) v = fail("trailing characters");
        if (!v && error) *error = error_ + " at offset " + std::to_string(pos_);
        return v;
    }

private:
    std::optional<json> fail(std::string why) {
        if (error_.empty()) error_ = std::move(why);
        return std::nullopt;
    }
    void skip_ws() {
        while (pos_ < s_.size() &&
               (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r'))
            ++pos_;
    }
    bool eat(char c) {
        skip_ws();
        if (pos_ < s_.size() && s_[pos_] == c) {
            ++pos_;
            return true;
        }
        return false;
    }
    bool literal(std::string_view word) {
        if (s_.substr(pos_, word.size()) != word) return false;
        pos_ += word.size();
        return true;
    }

    std::optional<json> value(int depth) {
        if (depth > 64) return fail("nested too deeply");
        skip_ws();
        if (pos_ == s_.size()) return fail("unexpected end");
        char c = s_[pos_];
        if (c == '{') return object(depth);
        if (c == '[') return array(depth);
        if (c == '"') {
            auto s = string();
            if (!s) return std::nullopt;
            return json(std::move(*s));
        }
        if (literal("true")) return json(true);
        if (literal("false")) return json(false);
        if (literal("null")) return json();
        return number();
    }

    std::optional<json> object(int depth) {
        ++pos_;  // {
        json o = json::object();
        if (eat('}')) return o;
        do {
            skip_ws();
            if (pos_ == s_.size() || s_[pos_] != '"') return fail("expected a key");
            auto k = string();
            if (!k) return std::nullopt;
            if (!eat(':')) return fail("expected ':'");
            auto v = value(depth + 1);
            if (!v) return std::nullopt;
            o.set(*k, std::move(*v));
        } while (eat(','));
        if (!eat('}')) return fail("expected '}'");
        return o;
    }

    std::optional<json> array(int depth) {
        ++pos_;  // [
        json a = json::array();
        if (eat(']')) return a;
        do {
            auto v = value(depth + 1);
            if (!v) return std::nullopt;
            a.push_back(std::move(*v));
        } while (eat(','));
        if (!eat(']')) return fail("expected ']'");
        return a;
    }

    std::optional<json> number() {
        std::size_t start = pos_;
        while (pos_ < s_.size() && std::strchr("+-0123456789.eE", s_[pos_]) != nullptr)
            ++pos_;
        if (start == pos_) return fail("unexpected character");
        std::string text(s_.substr(start, pos_ - start));
        char* end = nullptr;
        double v = std::strtod(text.c_str(), &end);
        if (end != text.c_str() + text.size()) return fail("bad number");
        return json(v);
    }

    static void put_utf8(std::string& out, std::uint32_t cp) {
        if (cp < 0x80) {
            out.push_back(static_cast<char>(cp));
        } else if (cp < 0x800) {
            out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
            out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
        } else if (cp < 0x10000) {
            out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
            out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
            out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
        } else {
            out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
            out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
            out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
            out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
        }
    }

    std::optional<std::uint32_t> hex4() {
        if (s_.size() - pos_ < 4) return std::nullopt;
        std::uint32_t v = 0;
        for (int i = 0; i < 4; ++i) {
            char c = s_[pos_++];
            v <<= 4;
            if (c >= '0' && c <= '9')
                v |= static_cast<std::uint32_t>(c - '0');
            else if (c >= 'a' && c <= 'f')
                v |= static_cast<std::uint32_t>(c - 'a' + 10);
            else if (c >= 'A' && c <= 'F')
                v |= static_cast<std::uint32_t>(c - 'A' + 10);
            else
                return std::nullopt;
        }
        return v;
    }

    std::optional<std::string> string() {
        ++pos_;  // "
        std::string out;
        while (pos_ < s_.size()) {
            char c = s_[pos_++];
            if (c == '"') return out;
            if (c != '\\') {
                out.push_back(c);
                continue;
            }
            if (pos_ == s_.size()) break;
            char e = s_[pos_++];
            switch (e) {
                case '"':
                    out.push_back('"');
                    break;
                case '\\':
                    out.push_back('\\');
                    break;
                case '/':
                    out.push_back('/');
                    break;
                case 'b':
                    out.push_back('\b');
                    break;
                case 'f':
                    out.push_back('\f');
                    break;
                case 'n':
                    out.push_back('\n');
                    break;
                case 'r':
                    out.push_back('\r');
                    break;
                case 't':
                    out.push_back('\t');
                    break;
                case 'u': {
                    auto cp = hex4();
                    if (!cp) {
                        fail("bad \\u escape");
                        return std::nullopt;
                    }
                    if (*cp >= 0xD800 && *cp < 0xDC00 && literal("\\u")) {
                        auto lo = hex4();
                        if (!lo || *lo < 0xDC00 || *lo > 0xDFFF) {
                            fail("bad surrogate pair");
                            return std::nullopt;
                        }
                        *cp = 0x10000 + ((*cp - 0xD800) << 10) + (*lo - 0xDC00);
                    }
                    put_utf8(out, *cp);
                    break;
                }
                default:
                    fail("bad escape");
                    return std::nullopt;
            }
        }
        fail("unterminated string");
        return std::nullopt;
    }

    std::string_view s_;
    std::size_t pos_ = 0;
    std::string error_;
};

}  // namespace

void json::dump_to(std::string& out) const {
    switch (kind_) {
        case kind::null:
            out += "null";
            return;
        case kind::boolean:
            out += bool_ ? "true" : "false";
            return;
        case kind::number:
            out += format_number(num_);
            return;
        case kind::string:
            dump_string(out, str_);
            return;
        case kind::array:
            out.push_back('[');
            for (std::size_t i = 0; i < items_.size(); ++i) {
                if (i) out.push_back(',');
                items_[i].dump_to(out);
            }
            out.push_back(']');
            return;
        case kind::object:
            out.push_back('{');
            for (std::size_t i = 0; i < items_.size(); ++i) {
                if (i) out.push_back(',');
                dump_string(out, keys_[i]);
                out.push_back(':');
                items_[i].dump_to(out);
            }
            out.push_back('}');
            return;
    }
}

std::string json::dump() const {
    std::string out;
    dump_to(out);
    return out;
}

std::optional<json> json::parse(std::string_view text, std::string* error) {
    return json_parser(text).parse_all(error);
}

std::string format_number(double v) {
    if (!std::isfinite(v)) return "null";  // JSON has no NaN or infinity
    char buf[64];
    double a = std::fabs(v);
    if (v == std::floor(v) && a < 1e15) {
        std::snprintf(buf, sizeof buf, "%.0f", v);
        return buf;
    }
    int decimals = a >= 1000 ? 0 : std::min(12, 3 - static_cast<int>(std::floor(std::log10(a))));
    std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
    std::string s = buf;
    if (s.find('.') != std::string::npos) {
        while (s.back() == '0')
            s.pop_back();
        if (s.back() == '.') s.pop_back();
    }
    if (s == "-0") s = "0";
    return s;
}

// ---- results ----------------------------------------------------------------------------------

std::string sample::to_json() const {
    json o = json::object({{"system", system},
                           {"bench", bench},
                           {"metric", metric},
                           {"value", value},
                           {"unit", unit},
                           {"params", params}});
    return o.dump();
}

std::optional<sample> sample::from_json(std::string_view line, std::string* error) {
    std::string why;
    auto v = json::parse(line, &why);
    auto bad = [&](std::string w) -> std::optional<sample> {
        if (error) *error = std::move(w);
        return std::nullopt;
    };
    if (!v) return bad(why);
    if (!v->is_object()) return bad("not an object");
    sample s;
    for (const char* key : {"system", "bench", "metric", "unit"}) {
        const json* f = v->find(key);
        if (!f || !f->is_string()) return bad(std::string("missing string field ") + key);
    }
    const json* value = v->find("value");
    if (!value || !value->is_number()) return bad("missing number field value");
    s.system = v->find("system")->string();
    s.bench = v->find("bench")->string();
    s.metric = v->find("metric")->string();
    s.unit = v->find("unit")->string();
    s.value = value->number();
    if (const json* p = v->find("params")) {
        if (!p->is_object()) return bad("params is not an object");
        s.params = *p;
    }
    return s;
}

const sample* find_sample(const std::vector<sample>& samples, std::string_view system, std::string_view bench,
                          std::string_view metric, const json& params) {
    for (const sample& s : samples)
        if (s.system == system && s.bench == bench && s.metric == metric && s.params == params) return &s;
    return nullptr;
}

void reporter::emit(const sample& s) {
    std::string line = s.to_json();
    line.push_back('\n');
    std::fwrite(line.data(), 1, line.size(), stdout);
    std::fflush(stdout);
    rows_.push_back({s, std::nullopt, std::nullopt});
}

void reporter::compare(const sample& nodus, const sample& erlang, better b, bool print_erlang) {
    double ratio = b == better::higher ? nodus.value / erlang.value : erlang.value / nodus.value;
    const sample r{nodus.system, nodus.bench, "ratio_" + nodus.metric, ratio, "x", nodus.params};
    for (const sample* s : {&nodus, &erlang, &r}) {
        if (s == &erlang && !print_erlang) continue;
        std::string line = s->to_json();
        line.push_back('\n');
        std::fwrite(line.data(), 1, line.size(), stdout);
    }
    std::fflush(stdout);
    rows_.push_back({nodus, erlang.value, ratio});
}

void reporter::print_table(std::string_view title) {
    // Parameters that are the same on every row go in the title; the others get a column.
    std::vector<std::string> varying;
    std::string common;
    if (!rows_.empty()) {
        const json& first = rows_.front().nodus.params;
        for (std::size_t i = 0; i < first.keys().size(); ++i) {
            const std::string& key = first.keys()[i];
            bool same = std::all_of(rows_.begin(), rows_.end(), [&](const row& r) {
                const json* v = r.nodus.params.find(key);
                return v && *v == first.items()[i];
            });
            std::string text =
                first.items()[i].is_string() ? first.items()[i].string() : first.items()[i].dump();
            if (same) common += (common.empty() ? "" : ", ") + key + " " + text;
        }
        for (const row& r : rows_) {
            for (std::size_t i = 0; i < r.nodus.params.keys().size(); ++i) {
                const std::string& key = r.nodus.params.keys()[i];
                bool same = std::all_of(rows_.begin(), rows_.end(), [&](const row& o) {
                    const json* v = o.nodus.params.find(key);
                    return v && *v == r.nodus.params.items()[i];
                });
                if (!same && std::find(varying.begin(), varying.end(), key) == varying.end())
                    varying.push_back(key);
            }
        }
    }
    auto param_text = [&](const row& r) {
        std::string t;
        for (const std::string& key : varying) {
            const json* v = r.nodus.params.find(key);
            if (!v) continue;
            if (!t.empty()) t += ' ';
            t += v->is_string() ? v->string() : key + "=" + v->dump();
        }
        return t;
    };
    std::vector<std::array<std::string, 6>> cells;
    cells.push_back({"params", "metric", "nodus", "erlang", "ratio", "unit"});
    for (const row& r : rows_) {
        cells.push_back({param_text(r), r.nodus.metric, format_number(r.nodus.value),
                         r.erlang ? format_number(*r.erlang) : "",
                         r.ratio ? format_number(*r.ratio) + "x" : "", r.nodus.unit});
    }
    std::array<std::size_t, 6> width{};
    for (const auto& c : cells)
        for (std::size_t i = 0; i < c.size(); ++i)
            width[i] = std::max(width[i], c[i].size());
    std::string out = "\n== " + std::string(title) + (common.empty() ? "" : " (" + common + ")") + "\n";
    for (const auto& c : cells) {
        for (std::size_t i = 0; i < c.size(); ++i) {
            bool right = i >= 2 && i <= 4;  // numbers
            std::string pad(width[i] - c[i].size(), ' ');
            bool last = i + 1 == c.size();
            out += right ? pad + c[i] : last ? c[i] : c[i] + pad;
            out += last ? "\n" : "  ";
        }
    }
    std::fputs(out.c_str(), stderr);
    std::fflush(stderr);
    rows_.clear();
}

double median(std::vector<double> v) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

// ---- child processes --------------------------------------------------------------------------

namespace {

// Children alive right now, for the signal handler thread (lock-free: PIDs in atomic slots).
std::array<std::atomic<pid_t>, 64> live_children{};
// Set by the signal thread before it stops the children; it ends the process itself.
std::atomic<bool> stopping{false};

void track_child(pid_t pid) {
    for (auto& slot : live_children) {
        pid_t expected = 0;
        if (slot.compare_exchange_strong(expected, pid)) return;
    }
}

void untrack_child(pid_t pid) {
    for (auto& slot : live_children) {
        pid_t expected = pid;
        if (slot.compare_exchange_strong(expected, 0)) return;
    }
}

// PIDs whose parent is `parent` (from /proc): erl's helper erl_child_setup, which would otherwise
// outlive a killed beam.smp for a moment.
std::vector<pid_t> children_of(pid_t parent) {
    std::vector<pid_t> out;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator("/proc", ec)) {
        const std::string name = e.path().filename().string();
        if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
        std::FILE* f = std::fopen((e.path() / "stat").c_str(), "r");
        if (!f) continue;
        char buf[512];
        std::size_t n = std::fread(buf, 1, sizeof buf - 1, f);
        std::fclose(f);
        buf[n] = 0;
        // pid (comm) state ppid ...: comm may contain spaces, so parse after the last ')'.
        const char* close = std::strrchr(buf, ')');
        char state = 0;
        int ppid = 0;
        if (close && std::sscanf(close + 1, " %c %d", &state, &ppid) == 2 && ppid == parent)
            out.push_back(static_cast<pid_t>(std::stoi(name)));
    }
    return out;
}

// SIGKILL to pid and to its direct children (by PID).
void kill_tree(pid_t pid) {
    std::vector<pid_t> kids = children_of(pid);
    ::kill(pid, SIGKILL);
    for (pid_t k : kids)
        ::kill(k, SIGKILL);
}

[[noreturn]] void throw_errno(const std::string& what) {
    throw std::system_error(errno, std::generic_category(), what);
}

}  // namespace

child_process::child_process(std::vector<std::string> argv) {
    int out_pipe[2], in_pipe[2];
    if (::pipe2(out_pipe, O_CLOEXEC) != 0) throw_errno("pipe");
    if (::pipe2(in_pipe, O_CLOEXEC) != 0) {
        ::close(out_pipe[0]);
        ::close(out_pipe[1]);
        throw_errno("pipe");
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, in_pipe[0], 0);
    posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
    // The driver blocks the signals its cleanup thread waits for and ignores SIGPIPE; the child
    // starts with an empty mask and default dispositions.
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t none, defaults;
    sigemptyset(&none);
    sigemptyset(&defaults);
    for (int s : {SIGPIPE, SIGINT, SIGTERM, SIGHUP})
        sigaddset(&defaults, s);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &defaults);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

    std::vector<char*> args;
    for (std::string& a : argv)
        args.push_back(a.data());
    args.push_back(nullptr);
    int rc = posix_spawnp(&pid_, args[0], &actions, &attr, args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    ::close(in_pipe[0]);
    ::close(out_pipe[1]);
    if (rc != 0) {
        ::close(in_pipe[1]);
        ::close(out_pipe[0]);
        throw std::runtime_error("cannot start " + argv[0] + ": " + std::strerror(rc));
    }
    track_child(pid_);
    out_fd_ = out_pipe[0];
    in_fd_ = in_pipe[1];
}

child_process::~child_process() {
    kill();
    if (out_fd_ >= 0) ::close(out_fd_);
    if (in_fd_ >= 0) ::close(in_fd_);
}

std::optional<std::string> child_process::read_line(steady::time_point deadline) {
    for (;;) {
        std::size_t nl = buf_.find('\n');
        if (nl != std::string::npos) {
            std::string line = buf_.substr(0, nl);
            buf_.erase(0, nl + 1);
            return line;
        }
        if (out_fd_ < 0) {
            if (buf_.empty()) return std::nullopt;
            return std::exchange(buf_, std::string());
        }
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now()).count();
        if (left <= 0) {
            timed_out_ = true;
            return std::nullopt;
        }
        pollfd p{out_fd_, POLLIN, 0};
        int n = ::poll(&p, 1, static_cast<int>(std::min<long long>(left, 1000)));
        if (n < 0 && errno != EINTR) throw_errno("poll");
        if (n <= 0) continue;
        char chunk[65536];
        ssize_t got = ::read(out_fd_, chunk, sizeof chunk);
        if (got < 0) {
            if (errno == EINTR || errno == EAGAIN) continue;
            throw_errno("read");
        }
        if (got == 0) {
            ::close(out_fd_);
            out_fd_ = -1;
            continue;
        }
        buf_.append(chunk, static_cast<std::size_t>(got));
    }
}

void child_process::write(std::string_view text) {
    while (!text.empty()) {
        if (in_fd_ < 0) throw std::runtime_error("write to a closed stdin");
        ssize_t n = ::write(in_fd_, text.data(), text.size());
        if (n < 0) {
            if (errno == EINTR) continue;
            throw_errno("write to child");
        }
        text.remove_prefix(static_cast<std::size_t>(n));
    }
}

void child_process::close_stdin() {
    if (in_fd_ >= 0) ::close(in_fd_);
    in_fd_ = -1;
}

int child_process::wait(steady::time_point deadline) {
    while (!exited_) {
        int status = 0;
        pid_t r = ::waitpid(pid_, &status, WNOHANG);
        if (r == pid_) {
            exited_ = true;
            status_ = status;
            untrack_child(pid_);
            break;
        }
        if (r < 0 && errno == ECHILD) {  // reaped by the signal thread
            exited_ = true;
            status_ = SIGKILL;
            break;
        }
        if (r < 0 && errno != EINTR) throw_errno("waitpid");
        if (steady::now() >= deadline) {
            timed_out_ = true;
            kill();
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    if (WIFEXITED(status_)) return WEXITSTATUS(status_);
    if (WIFSIGNALED(status_)) return 128 + WTERMSIG(status_);
    return 255;
}

void child_process::kill() {
    if (exited_ || pid_ <= 0) return;
    kill_tree(pid_);
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    exited_ = true;
    status_ = status;
    untrack_child(pid_);
}

void install_cleanup_on_signals(const fs::path& temp_dir) {
    std::signal(SIGPIPE, SIG_IGN);
    sigset_t set;
    sigemptyset(&set);
    for (int s : {SIGINT, SIGTERM, SIGHUP})
        sigaddset(&set, s);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    std::thread([set, dir = temp_dir] {
        int sig = 0;
        sigwait(&set, &sig);
        stopping = true;
        for (auto& slot : live_children) {
            pid_t pid = slot.exchange(0);
            if (pid > 0) {
                kill_tree(pid);
                ::waitpid(pid, nullptr, 0);  // gone before we are (fails harmlessly if reaped)
            }
        }
        std::error_code ec;
        fs::remove_all(dir, ec);
        std::fprintf(stderr, "nodus_bench: stopped by signal %d\n", sig);
        std::_Exit(128 + sig);
    }).detach();
}

temp_dir::temp_dir() {
    const char* base = std::getenv("TMPDIR");
    std::string pattern = std::string(base && *base ? base : "/tmp") + "/nodus_bench.XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) throw_errno("mkdtemp " + pattern);
    path_ = pattern;
}

temp_dir::~temp_dir() {
    // The signal thread is removing it and will end the process: do not race it.
    while (stopping)
        std::this_thread::sleep_for(std::chrono::seconds(1));
    std::error_code ec;
    fs::remove_all(path_, ec);
}

// ---- the BEAM side ----------------------------------------------------------------------------

erl_runner::erl_runner(fs::path source_dir, fs::path work_dir)
    : source_dir_(std::move(source_dir)), work_dir_(std::move(work_dir)) {}

const fs::path& erl_runner::ebin() {
    if (!ebin_.empty()) return ebin_;
    fs::path out = work_dir_ / "ebin";
    fs::create_directories(out);
    std::vector<std::string> argv{"erlc", "-o", out.string()};
    for (const auto& e : fs::directory_iterator(source_dir_))
        if (e.path().extension() == ".erl") argv.push_back(e.path().string());
    if (argv.size() == 3) throw std::runtime_error("no Erlang sources in " + source_dir_.string());
    child_process erlc(argv);
    erlc.close_stdin();
    auto deadline = steady::now() + std::chrono::seconds(120);
    while (auto line = erlc.read_line(deadline))
        std::fprintf(stderr, "erlc: %s\n", line->c_str());
    int rc = erlc.wait(deadline);
    if (rc != 0) throw std::runtime_error("erlc failed (status " + std::to_string(rc) + ")");
    ebin_ = out;
    return ebin_;
}

child_process erl_runner::start(std::string_view bench, const std::vector<std::string>& args,
                                const std::vector<std::string>& extra_flags) {
    std::vector<std::string> argv{"erl", "-noshell"};
    argv.insert(argv.end(), extra_flags.begin(), extra_flags.end());
    argv.insert(argv.end(), {"-pa", ebin().string(), "-run", "nodus_bench_erl", "main", std::string(bench)});
    argv.insert(argv.end(), args.begin(), args.end());
    return child_process(std::move(argv));
}

std::vector<sample> erl_runner::run(std::string_view bench, const std::vector<std::string>& args,
                                    std::chrono::seconds timeout,
                                    const std::vector<std::string>& extra_flags) {
    child_process erl = start(bench, args, extra_flags);
    auto deadline = steady::now() + timeout;
    std::vector<sample> out;
    while (auto line = erl.read_line(deadline)) {
        if (line->empty() || line->front() != '{') {
            std::fprintf(stderr, "erl: %s\n", line->c_str());
            continue;
        }
        std::string why;
        auto s = sample::from_json(*line, &why);
        if (!s) throw std::runtime_error("bad result line from erl (" + why + "): " + *line);
        out.push_back(std::move(*s));
    }
    if (erl.timed_out()) {
        erl.kill();
        throw std::runtime_error("erl side of " + std::string(bench) + " ran past " +
                                 std::to_string(timeout.count()) + " s; killed");
    }
    int rc = erl.wait(deadline);
    if (erl.timed_out())
        throw std::runtime_error("erl side of " + std::string(bench) + " did not exit; killed");
    if (rc != 0)
        throw std::runtime_error("erl side of " + std::string(bench) + " failed (status " +
                                 std::to_string(rc) + ")");
    return out;
}

erl_session::erl_session(erl_runner& runner, std::string_view bench, const std::vector<std::string>& args,
                         std::chrono::seconds timeout, const std::vector<std::string>& extra_flags)
    : bench_(bench), deadline_(steady::now() + timeout), child_(runner.start(bench, args, extra_flags)) {
    read_until("ready");
}

std::vector<sample> erl_session::read_until(std::string_view token) {
    std::vector<sample> out;
    while (auto line = child_.read_line(deadline_)) {
        if (*line == token) return out;
        if (line->empty() || line->front() != '{') {
            std::fprintf(stderr, "erl: %s\n", line->c_str());
            continue;
        }
        std::string why;
        auto s = sample::from_json(*line, &why);
        if (!s) throw std::runtime_error("bad result line from erl (" + why + "): " + *line);
        out.push_back(std::move(*s));
    }
    child_.kill();
    if (child_.timed_out())
        throw std::runtime_error("erl side of " + bench_ + " ran past its time limit; killed");
    throw std::runtime_error("erl side of " + bench_ + " ended before '" + std::string(token) + "'");
}

std::vector<sample> erl_session::request(std::string_view command) {
    child_.write(std::string(command) + "\n");
    return read_until("done");
}

void erl_session::finish() {
    child_.write("quit\n");
    child_.close_stdin();
    while (auto line = child_.read_line(deadline_))
        std::fprintf(stderr, "erl: %s\n", line->c_str());
    int rc = child_.wait(deadline_);
    if (child_.timed_out()) throw std::runtime_error("erl side of " + bench_ + " did not exit; killed");
    if (rc != 0)
        throw std::runtime_error("erl side of " + bench_ + " failed (status " + std::to_string(rc) + ")");
}

const std::string& erl_runner::version() {
    if (!version_.empty()) return version_;
    child_process erl({"erl", "-noshell", "-eval",
                       "io:format(\"OTP ~s, erts ~s~n\", [erlang:system_info(otp_release), "
                       "erlang:system_info(version)]), halt()."});
    auto deadline = steady::now() + std::chrono::seconds(30);
    auto line = erl.read_line(deadline);
    erl.wait(deadline);
    version_ = line ? *line : "OTP unknown";
    return version_;
}

}  // namespace nodus::bench
