#include "erl_flags.hpp"

#include <algorithm>
#include <chrono>
#include <optional>

namespace nodus::tools {

std::vector<std::string> translate_erl_flags(std::vector<std::string> args, std::span<const erl_flag> flags) {
    for (std::size_t i = 0; i < args.size(); ++i) {
        std::string& a = args[i];
        if (a == "--") break;
        if (a.size() < 2 || a[0] != '-') continue;
        // Both spellings name the flag; only the single-dash one needs rewriting.
        const bool single = a[1] != '-';
        std::string_view name = std::string_view(a).substr(single ? 1 : 2);
        auto it = std::find_if(flags.begin(), flags.end(), [&](const erl_flag& f) { return f.name == name; });
        if (it == flags.end()) continue;
        if (single) a.insert(0, 1, '-');
        i += it->values;
    }
    return args;
}

erl_style_argv::erl_style_argv(int argc, char** argv, std::span<const erl_style_command> commands)
    : args_(argv, argv + argc) {
    if (args_.size() > 1) {
        auto it = std::find_if(commands.begin(), commands.end(),
                               [&](const erl_style_command& c) { return c.name == args_[1]; });
        if (it != commands.end()) {
            std::vector<std::string> rest(args_.begin() + 2, args_.end());
            rest = translate_erl_flags(std::move(rest), it->flags);
            std::copy(rest.begin(), rest.end(), args_.begin() + 2);
        }
    }
    for (auto& a : args_)
        pointers_.push_back(a.data());
    pointers_.push_back(nullptr);
}

}  // namespace nodus::tools

namespace nodus::tools {

namespace {

// "-sname" and "--sname" both give "sname"; nullopt for something that is not a flag.
std::optional<std::string_view> flag_name(std::string_view a) {
    if (a.size() < 2 || a[0] != '-') return std::nullopt;
    if (a[1] == '-') {
        if (a.size() == 2) return std::nullopt;  // "--"
        return a.substr(2);
    }
    return a.substr(1);
}

std::optional<long> parse_number(std::string_view s, long lo, long hi) {
    if (s.empty() || s.size() > 12) return std::nullopt;
    long v = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return std::nullopt;
        v = v * 10 + (c - '0');
    }
    if (v < lo || v > hi) return std::nullopt;
    return v;
}

// {127,0,0,1} (erl's inet_dist_use_interface) as "127.0.0.1".
std::optional<std::string> parse_ip_tuple(std::string_view s) {
    if (s.size() < 2 || s.front() != '{' || s.back() != '}') return std::nullopt;
    std::string out;
    std::string_view body = s.substr(1, s.size() - 2);
    int parts = 0;
    while (true) {
        auto comma = body.find(',');
        std::string_view part = body.substr(0, comma);
        while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
        while (!part.empty() && part.back() == ' ') part.remove_suffix(1);
        auto n = parse_number(part, 0, 255);
        if (!n) return std::nullopt;
        if (parts++) out += '.';
        out += std::to_string(*n);
        if (comma == std::string_view::npos) break;
        body.remove_prefix(comma + 1);
    }
    if (parts != 4) return std::nullopt;
    return out;
}

std::optional<bool> parse_bool(std::string_view s) {
    if (s == "true") return true;
    if (s == "false") return false;
    return std::nullopt;
}

// Splits iex's --erl string into words (quotes group, as a shell would).
std::vector<std::string> split_words(std::string_view s) {
    std::vector<std::string> out;
    std::string cur;
    bool in_word = false;
    char quote = 0;
    for (char c : s) {
        if (quote) {
            if (c == quote)
                quote = 0;
            else
                cur += c;
            continue;
        }
        if (c == '\'' || c == '"') {
            quote = c;
            in_word = true;
        } else if (c == ' ' || c == '\t' || c == '\n') {
            if (in_word) out.push_back(std::move(cur));
            cur.clear();
            in_word = false;
        } else {
            cur += c;
            in_word = true;
        }
    }
    if (in_word) out.push_back(std::move(cur));
    return out;
}

struct parser {
    node_args& out;

    bool fail(std::string msg) {
        if (out.error.empty()) out.error = std::move(msg);
        return false;
    }

    bool kernel_param(std::string_view key, std::string_view value) {
        node_config& c = out.config;
        std::string k(key);
        if (key == "inet_dist_listen_min" || key == "inet_dist_listen_max") {
            auto p = parse_number(value, 0, 65535);
            if (!p) return fail("-kernel " + k + ": not a port number: " + std::string(value));
            (key == "inet_dist_listen_min" ? c.listen_port_min : c.listen_port_max) = static_cast<std::uint16_t>(*p);
            return true;
        }
        if (key == "net_ticktime") {
            auto p = parse_number(value, 1, 1000000);
            if (!p) return fail("-kernel net_ticktime: not a number of seconds: " + std::string(value));
            c.net_ticktime = std::chrono::seconds(*p);
            return true;
        }
        if (key == "net_setuptime") {
            auto p = parse_number(value, 1, 1000000);
            if (!p) return fail("-kernel net_setuptime: not a number of seconds: " + std::string(value));
            c.net_setuptime = std::chrono::seconds(*p);
            return true;
        }
        if (key == "connect_all") {
            auto b = parse_bool(value);
            if (!b) return fail("-kernel connect_all: not true or false: " + std::string(value));
            c.connect_all = *b;
            return true;
        }
        if (key == "inet_dist_use_interface") {
            auto ip = parse_ip_tuple(value);
            if (!ip) return fail("-kernel inet_dist_use_interface: not an IPv4 tuple like {127,0,0,1}: " +
                                 std::string(value));
            c.listen_address = *ip;
            return true;
        }
        return fail("unknown -kernel parameter: " + k);
    }

    // Parses args from i; returns false on an error. from_erl: inside --erl (no other arguments).
    bool run(std::span<const std::string> args, bool from_erl) {
        for (std::size_t i = 0; i < args.size(); ++i) {
            const std::string& a = args[i];
            auto name = flag_name(a);
            auto value = [&](std::string_view what) -> std::optional<std::string> {
                if (i + 1 >= args.size()) {
                    fail(a + " needs " + std::string(what));
                    return std::nullopt;
                }
                return args[++i];
            };
            if (a == "+sbwt") {
                // erl's scheduler busy wait threshold: how long an idle worker polls its sockets
                // before it sleeps (runtime_options::busy_poll).
                auto v = value("none, very_short, short, medium, long or very_long");
                if (!v) return false;
                static const std::pair<std::string_view, int> levels[] = {
                    {"none", 0}, {"very_short", 10}, {"short", 30}, {"medium", 100}, {"long", 300}, {"very_long", 1000}};
                auto it = std::find_if(std::begin(levels), std::end(levels), [&](const auto& l) { return l.first == *v; });
                if (it == std::end(levels))
                    return fail("+sbwt: not none, very_short, short, medium, long or very_long: " + *v);
                out.config.runtime.busy_poll = std::chrono::microseconds(it->second);
                continue;
            }
            if (!name) {
                if (from_erl) return fail("--erl: unexpected argument: " + a);
                out.rest.push_back(a);
                continue;
            }
            std::string_view n = *name;
            node_config& c = out.config;
            if (n == "sname" || n == "name") {
                auto v = value("a node name");
                if (!v) return false;
                if (out.distributed) return fail("only one of -sname and -name may be given");
                c.name = *v;
                c.naming = n == "sname" ? naming_mode::shortnames : naming_mode::longnames;
                out.distributed = true;
            } else if (n == "setcookie" || (n == "cookie" && a.starts_with("--"))) {
                auto v = value("a cookie");
                if (!v) return false;
                c.cookie = *v;
            } else if (n == "hidden") {
                c.hidden = true;
            } else if (n == "kernel") {
                std::size_t pairs = 0;
                while (i + 1 < args.size() && !flag_name(args[i + 1])) {
                    if (i + 2 >= args.size() || flag_name(args[i + 2]))
                        return fail("-kernel " + args[i + 1] + " needs a value");
                    if (!kernel_param(args[i + 1], args[i + 2])) return false;
                    i += 2;
                    ++pairs;
                }
                if (pairs == 0) return fail("-kernel needs a parameter and a value");
            } else if (n == "erl" && a.starts_with("--") && !from_erl) {
                auto v = value("erl flags ('-kernel inet_dist_listen_min 9100')");
                if (!v) return false;
                auto words = split_words(*v);
                if (!run(words, true)) return false;
            } else if (n == "connect_all") {
                auto v = value("true or false");
                if (!v) return false;
                auto b = parse_bool(*v);
                if (!b) return fail(a + ": not true or false: " + *v);
                c.connect_all = *b;
            } else if (n == "epmd_port") {
                auto v = value("a port number");
                if (!v) return false;
                auto p = parse_number(*v, 1, 65535);
                if (!p) return fail(a + ": not a port number: " + *v);
                c.epmd_port = static_cast<std::uint16_t>(*p);
            } else if (n == "erl_epmd_port") {
                auto v = value("a port number");
                if (!v) return false;
                auto p = parse_number(*v, 1, 65535);
                if (!p) return fail(a + ": not a port number: " + *v);
                c.no_epmd_port = static_cast<std::uint16_t>(*p);
            } else if (n == "proto_dist") {
                auto v = value("a protocol (inet_tcp or inet_tls)");
                if (!v) return false;
                if (*v == "inet_tls")
                    out.tls = true;
                else if (*v == "inet_tcp")
                    out.tls = false;
                else
                    return fail(a + " " + *v + ": only inet_tcp and inet_tls are supported (IPv6 distribution is not)");
            } else if (n == "ssl_dist_optfile") {
                auto v = value("an option file");
                if (!v) return false;
                auto o = dist::read_ssl_dist_optfile(*v);
                if (!o) return fail(a + ": " + o.error());
                c.tls = *o;
            } else if (n == "noshell" || n == "noinput") {
                // erl compatibility: nodus node has no shell anyway
            } else {
                if (from_erl) return fail("--erl: unknown flag: " + a);
                out.rest.push_back(a);  // the subcommand's own flag, or an unknown one
            }
        }
        return true;
    }
};

}  // namespace

node_args parse_node_args(std::span<const std::string> args) {
    node_args out;
    parser p{out};
    p.run(args, false);
    // erl needs both: -proto_dist inet_tls chooses TLS, the option file says how.
    if (out.error.empty() && out.tls && !out.config.tls)
        out.error = "-proto_dist inet_tls needs -ssl_dist_optfile FILE (the server and client certificates)";
    if (out.error.empty() && !out.tls && out.config.tls)
        out.error = "-ssl_dist_optfile is only used with -proto_dist inet_tls";
    if (out.error.empty() && out.config.listen_port_max != 0 && out.config.listen_port_min == 0)
        out.config.listen_port_min = out.config.listen_port_max;
    if (out.error.empty() && out.config.listen_port_min != 0 && out.config.listen_port_max == 0)
        out.config.listen_port_max = out.config.listen_port_min;
    if (out.error.empty() && out.config.listen_port_min > out.config.listen_port_max)
        out.error = "-kernel inet_dist_listen_min is above inet_dist_listen_max";
    return out;
}

std::string_view node_flags_help() {
    return "Node flags (erl's and iex's spellings):\n"
           "  -sname N, --sname N        start a node with a short name (none without -sname/-name)\n"
           "  -name N, --name N          start a node with a long name\n"
           "  -setcookie C, --cookie C   the cookie (default: ~/.erlang.cookie)\n"
           "  -hidden, --hidden          a hidden node\n"
           "  -kernel inet_dist_listen_min P inet_dist_listen_max Q   listen port range\n"
           "  -kernel net_ticktime T     tick time in seconds (also net_setuptime)\n"
           "  -kernel inet_dist_use_interface '{127,0,0,1}'   listen on one address\n"
           "  --erl '-kernel ...'        erl flags as iex takes them\n"
           "  -connect_all false         do not connect to the nodes our peers know\n"
           "  -epmd_port P               the port mapper's port (default $ERL_EPMD_PORT or 4369)\n"
           "  -erl_epmd_port P           no port mapper: listen on P, reach peers on P\n";
}

}  // namespace nodus::tools
