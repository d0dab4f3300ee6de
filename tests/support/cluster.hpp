// Multi-node test fixtures: a private port mapper, real erl nodes that obey a test agent, and
// nodus nodes with test defaults. Everything listens on loopback only, on free ports, and every
// OS process started here is stopped by its PID at the end of its owner's life.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "child_process.hpp"
#include "nodus/node/node.hpp"
#include "nodus/runtime/runtime.hpp"
#include "nodus/term/term.hpp"

namespace nodus::test {

// A TCP port that was free on 127.0.0.1 a moment ago.
std::uint16_t free_port();
// This machine's short host name, as erl -sname uses it.
std::string short_host();
// A name unique within this test process (prefix + counter + pid).
std::string unique_name(const std::string& prefix);

// OTP's own epmd, in the foreground on a free port.
class epmd_daemon {
public:
    epmd_daemon();
    std::uint16_t port() const noexcept { return port_; }

private:
    std::uint16_t port_;
    std::unique_ptr<child_process> proc_;
};

struct erl_node_options {
    std::string sname;  // alive part; the host is this machine
    std::string cookie;
    std::uint16_t epmd_port = 0;
    bool hidden = false;
    std::vector<std::string> args;  // extra erl arguments (e.g. -kernel net_ticktime 2)
};

// A real erl node running tests/interop/erl/nodus_agent.erl.
class erl_node {
public:
    erl_node(const std::string& erl, erl_node_options opts);
    ~erl_node();
    atom name() const noexcept { return name_; }
    child_process& process() noexcept { return *proc_; }
    // Evaluates Erlang expressions (ending with '.') on the node, asked through a process of
    // `via`; returns the value, throws std::runtime_error with erl's error otherwise.
    term eval(node& via, const std::string& source,
              std::chrono::milliseconds timeout = std::chrono::seconds(20));
    // The same with variables bound first: {{"P", some_pid}} makes P usable in the source.
    term eval(node& via, const std::string& source, std::vector<std::pair<std::string, term>> bindings,
              std::chrono::milliseconds timeout = std::chrono::seconds(20));
    // The messages the node's collector process (registered `inbox`) got since the last call.
    std::vector<term> inbox(node& via);

private:
    atom name_;
    std::unique_ptr<child_process> proc_;
};

// A nodus node named sname@<this host> with the given cookie, registered with the port mapper
// on epmd_port; tweak may change the configuration before start. Fails the test on error.
std::unique_ptr<node> start_nodus(const std::string& sname, const std::string& cookie,
                                  std::uint16_t epmd_port,
                                  const std::function<void(node_config&)>& tweak = {});

// What a node logs, kept for assertions: put sink() into node_config::log. The lines live as long
// as the sink does, so a node may outlive the capture that made it.
class log_capture {
public:
    std::function<void(std::string_view)> sink() const {
        return [lines = lines_](std::string_view line) {
            std::lock_guard l(lines->mutex);
            lines->text.emplace_back(line);
        };
    }
    bool contains(const std::string& part) const {
        std::lock_guard l(lines_->mutex);
        for (const auto& s : lines_->text)
            if (s.find(part) != std::string::npos) return true;
        return false;
    }
    std::string text() const {
        std::lock_guard l(lines_->mutex);
        std::string out;
        for (const auto& s : lines_->text)
            out += s + "\n";
        return out;
    }

private:
    struct lines {
        std::mutex mutex;
        std::vector<std::string> text;
    };
    std::shared_ptr<lines> lines_ = std::make_shared<lines>();
};

// Waits until pred() holds (polling), up to timeout; returns the last value of pred().
bool eventually(const std::function<bool()>& pred,
                std::chrono::milliseconds timeout = std::chrono::seconds(10));

// Runs body (a callable returning task<term>) in a new process of n; returns its result, or
// throws std::runtime_error when none comes within timeout.
template <class F>
term in_process(node& n, F body, std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    scoped_process me(n.rt());
    pid back = me.self();
    n.rt().spawn([back, body]() -> task<> {
        term r = co_await body();
        send(back, r);
    });
    auto r = me.receive(timeout);
    if (!r) throw std::runtime_error("process did not answer");
    return *r;
}

// An atom as Erlang source text: 'name@host'.
inline std::string quoted(atom a) {
    return "'" + std::string(a.name()) + "'";
}

}  // namespace nodus::test
