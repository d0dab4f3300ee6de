#include "cluster.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "nodus/dist/node_name.hpp"
#include "nodus/runtime/runtime.hpp"
#include "nodus/term/text.hpp"

namespace nodus::test {

std::uint16_t free_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        ::close(fd);
        throw std::runtime_error("free_port: bind failed");
    }
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    ::close(fd);
    return ntohs(a.sin_port);
}

std::string short_host() { return dist::local_host(dist::naming_mode::shortnames).short_host; }

std::string unique_name(const std::string& prefix) {
    static std::atomic<int> counter{0};
    return prefix + std::to_string(counter++) + "_" + std::to_string(::getpid());
}

epmd_daemon::epmd_daemon() {
    auto epmd = find_program("epmd");
    if (!epmd) throw std::runtime_error("epmd not found (install erlang-base)");
    for (int attempt = 0; attempt < 5; ++attempt) {
        port_ = free_port();
        spawn_options so;
        so.argv = {*epmd, "-port", std::to_string(port_)};
        so.err = stderr_mode::capture;
        proc_ = std::make_unique<child_process>(so);
        // Ready when it accepts connections.
        bool up = eventually(
            [&] {
                int fd = ::socket(AF_INET, SOCK_STREAM, 0);
                sockaddr_in a{};
                a.sin_family = AF_INET;
                a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
                a.sin_port = htons(port_);
                bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
                ::close(fd);
                return ok;
            },
            std::chrono::seconds(5));
        if (up && proc_->running()) return;
        proc_.reset();
    }
    throw std::runtime_error("cannot start epmd");
}

namespace {

// Compiles the agent once per test process.
std::string agent_dir(const std::string& erl) {
    static std::once_flag once;
    static std::string dir;
    std::call_once(once, [&] {
        dir = (std::filesystem::temp_directory_path() / unique_name("nodus_agent_")).string();
        std::filesystem::create_directories(dir);
        std::string erlc = (std::filesystem::path(erl).parent_path() / "erlc").string();
        if (!std::filesystem::exists(erlc)) erlc = "erlc";
        spawn_options so;
        so.argv = {erlc, "-o", dir, NODUS_AGENT_SOURCE};
        so.err = stderr_mode::merge;
        child_process c(so);
        auto st = c.wait(std::chrono::seconds(60));
        if (!st || !st->ok()) throw std::runtime_error("cannot compile nodus_agent.erl: " + c.read_all(1s));
    });
    return dir;
}

}  // namespace

erl_node::erl_node(const std::string& erl, erl_node_options opts) {
    std::string dir = agent_dir(erl);
    erl_options eo;
    eo.sname = opts.sname;
    eo.cookie = opts.cookie;
    eo.args = {"-pa", dir};
    if (opts.hidden) eo.args.push_back("-hidden");
    for (auto& a : opts.args) eo.args.push_back(a);
    eo.eval = "nodus_agent:start()";
    eo.env = {{"ERL_EPMD_PORT", std::to_string(opts.epmd_port)}};
    eo.err = stderr_mode::capture;
    proc_ = start_erl(erl, eo);
    name_ = atom(opts.sname + "@" + short_host());
    for (;;) {
        auto line = proc_->read_line(std::chrono::seconds(30));
        if (!line) throw std::runtime_error("erl node " + opts.sname + " did not start: " + proc_->stderr_text());
        if (line->rfind("ready ", 0) == 0) break;
    }
}

erl_node::~erl_node() = default;

term erl_node::eval(node& via, const std::string& source, std::chrono::milliseconds timeout) {
    return eval(via, source, {}, timeout);
}

term erl_node::eval(node& via, const std::string& source, std::vector<std::pair<std::string, term>> bindings,
                    std::chrono::milliseconds timeout) {
    scoped_process me(via.rt());
    term ref = via.rt().make_ref();
    std::vector<term> bs;
    for (auto& [k, v] : bindings) bs.push_back(tuple(atom(k), v));
    me.send(tuple(atom("agent"), name_), tuple(atom("eval"), me.self(), ref, binary(source), make_list(std::move(bs))));
    auto r = me.receive_if([&](const term& t) { return t.is_tuple(2) && t[0] == ref; }, timeout);
    if (!r) throw std::runtime_error("erl " + std::string(name_.name()) + " did not answer: " + source);
    const term& res = (*r)[1];
    if (res.is_tuple(2) && res[0].is_atom(atoms::ok)) return res[1];
    throw std::runtime_error("erl " + std::string(name_.name()) + ": " + source + " -> " + format_p(res));
}

std::vector<term> erl_node::inbox(node& via) {
    scoped_process me(via.rt());
    term ref = via.rt().make_ref();
    me.send(tuple(atom("inbox"), name_), tuple(atom("take"), me.self(), ref));
    auto r = me.receive_if([&](const term& t) { return t.is_tuple(2) && t[0] == ref; }, std::chrono::seconds(10));
    if (!r) throw std::runtime_error("erl inbox did not answer");
    return *(*r)[1].list_elements();
}

std::unique_ptr<node> start_nodus(const std::string& sname, const std::string& cookie, std::uint16_t epmd_port,
                                  const std::function<void(node_config&)>& tweak) {
    node_config cfg;
    cfg.name = sname;
    cfg.cookie = cookie;
    cfg.epmd_port = epmd_port;
    cfg.start_epmd = false;
    cfg.runtime.threads = 2;
    if (tweak) tweak(cfg);
    auto n = node::start(cfg);
    if (!n) throw std::runtime_error("nodus node " + sname + " did not start: " + n.error().message);
    return std::move(*n);
}

bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
    auto end = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        if (pred()) return true;
        if (std::chrono::steady_clock::now() >= end) return pred();
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
}

}  // namespace nodus::test
