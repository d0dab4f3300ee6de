// Node names: erl's rules (net_kernel:create_name, inet_config:init, inet_tcp_dist:splitnode),
// re-implemented from their description in handshake.md §2 and checked against erl 25.
#include "nodus/dist/node_name.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <vector>

namespace nodus::dist {

std::string_view to_string(node_name_error e) noexcept {
    switch (e) {
        case node_name_error::empty_alive:
            return "empty_alive";
        case node_name_error::bad_alive:
            return "bad_alive";
        case node_name_error::bad_host:
            return "bad_host";
        case node_name_error::dot_in_short_host:
            return "dot_in_short_host";
        case node_name_error::no_host:
            return "no_host";
        case node_name_error::no_domain:
            return "no_domain";
        case node_name_error::too_long:
            return "too_long";
        case node_name_error::atom_table_full:
            return "atom_table_full";
        case node_name_error::bad_node_name:
            return "bad_node_name";
        case node_name_error::host_fully_qualified:
            return "host_fully_qualified";
        case node_name_error::host_not_fully_qualified:
            return "host_not_fully_qualified";
    }
    return "unknown";
}

namespace {

nodus::unexpected<node_name_failure> failure(node_name_error e, std::string message) {
    return nodus::unexpected(node_name_failure{e, std::move(message)});
}

// Splits at the first '.': {before, after} (after without the dot; empty when there is none).
std::pair<std::string, std::string> split_first_dot(std::string_view s) {
    std::size_t dot = s.find('.');
    if (dot == std::string_view::npos) return {std::string(s), {}};
    return {std::string(s.substr(0, dot)), std::string(s.substr(dot + 1))};
}

// Every character (UTF-8 decoded) in U+0021..U+00FF: net_kernel:validate_hostname's ^[!-ÿ]*$.
bool valid_host_chars(std::string_view host) noexcept {
    for (std::size_t i = 0; i < host.size(); ++i) {
        auto c = static_cast<unsigned char>(host[i]);
        if (c < 0x80) {
            if (c < 0x21 || c == 0x7F) return false;
        } else if ((c == 0xC2 || c == 0xC3) && i + 1 < host.size() &&
                   (static_cast<unsigned char>(host[i + 1]) & 0xC0) == 0x80) {
            ++i;  // U+0080..U+00FF
        } else {
            return false;
        }
    }
    return true;
}

}  // namespace

// ---- this machine ----

local_host_names derive_local_host(const host_facts& facts, naming_mode mode) {
    local_host_names n;
    if (facts.hostname.empty()) {
        n.short_host = "nohost";
        n.domain = "nodomain";
    } else {
        auto [host, domain] = split_first_dot(facts.hostname);
        n.short_host = host;
        n.domain = domain;
    }
    if (mode == naming_mode::longnames && facts.resolv_domain) n.domain = *facts.resolv_domain;
    if (n.domain.empty() && facts.canonical_name) {
        if (auto canon = facts.canonical_name(n.short_host); canon && !canon->empty()) {
            auto [host, domain] = split_first_dot(*canon);
            n.short_host = host;
            if (!domain.empty()) n.domain = domain;
        }
    }
    return n;
}

std::optional<std::string> resolv_conf_domain(std::string_view contents) {
    std::optional<std::string> domain;
    std::size_t pos = 0;
    while (pos < contents.size()) {
        std::size_t nl = contents.find('\n', pos);
        std::string_view line = contents.substr(pos, nl == std::string_view::npos ? nl : nl - pos);
        pos = nl == std::string_view::npos ? contents.size() : nl + 1;
        // Tokens separated by spaces and tabs; '#' starts a comment (inet_parse:split_line).
        std::vector<std::string_view> tokens;
        std::size_t i = 0;
        while (i < line.size()) {
            char c = line[i];
            if (c == '#') break;
            if (c == ' ' || c == '\t' || c == '\r') {
                ++i;
                continue;
            }
            std::size_t start = i;
            while (i < line.size() && line[i] != ' ' && line[i] != '\t' && line[i] != '#' && line[i] != '\r')
                ++i;
            tokens.push_back(line.substr(start, i - start));
        }
        if (tokens.size() == 2 && tokens[0] == "domain") domain = std::string(tokens[1]);
    }
    return domain;
}

host_facts system_host_facts(naming_mode mode) {
    host_facts f;
    char hostname[256] = {};
    if (::gethostname(hostname, sizeof hostname - 1) == 0) f.hostname = hostname;
    if (mode == naming_mode::longnames) {
        const char* etc = std::getenv("ERL_INET_ETC_DIR");
        std::string path = std::string(etc ? etc : "/etc") + "/resolv.conf";
        // fread rather than istreambuf_iterator: the latter trips g++ 12's -Wnull-dereference
        // inside libstdc++ at -O3.
        if (std::FILE* in = std::fopen(path.c_str(), "rb")) {
            std::string text;
            char buf[4096];
            std::size_t n;
            // resolv.conf is small; stop at 1 MiB whatever it is.
            while ((n = std::fread(buf, 1, sizeof buf, in)) > 0 && text.size() < (1u << 20))
                text.append(buf, n);
            std::fclose(in);
            f.resolv_domain = resolv_conf_domain(text);
        }
    }
    f.canonical_name = [](const std::string& host) -> std::optional<std::string> {
        addrinfo hints{};
        hints.ai_family = AF_INET;  // inet:gethostbyname/1 looks up IPv4
        hints.ai_flags = AI_CANONNAME;
        addrinfo* res = nullptr;
        if (::getaddrinfo(host.c_str(), nullptr, &hints, &res) != 0 || !res) return std::nullopt;
        std::optional<std::string> canon;
        if (res->ai_canonname) canon = res->ai_canonname;
        ::freeaddrinfo(res);
        return canon;
    };
    return f;
}

local_host_names local_host(naming_mode mode) {
    return derive_local_host(system_host_facts(mode), mode);
}

// ---- our own name ----

result<atom, node_name_failure> make_node_name(std::string_view arg, naming_mode mode,
                                               const local_host_names& local) {
    const bool shortnames = mode == naming_mode::shortnames;
    std::size_t at = arg.find('@');
    std::string_view alive = arg.substr(0, at);
    std::string_view host = at == std::string_view::npos ? std::string_view{} : arg.substr(at + 1);
    std::string full_host;
    // The host part first, as net_kernel:create_hostpart does.
    if (!host.empty()) {
        if (shortnames && host.find('.') != std::string_view::npos)
            return failure(
                node_name_error::dot_in_short_host,
                "-sname host '" + std::string(host) +
                    "' contains a '.'; use -name for fully qualified names (erl: Can't set short node "
                    "name!)");
        if (host.find('@') != std::string_view::npos || !valid_host_chars(host))
            return failure(node_name_error::bad_host,
                           "invalid host part '" + std::string(host) +
                               "': printable characters only, one '@' (erl: Invalid "
                               "node name!)");
        full_host = host;
    } else if (shortnames) {
        if (local.short_host.empty())
            return failure(node_name_error::no_host,
                           "the host name of this machine is unknown (erl: Can't set short node name!)");
        full_host = local.short_host;
    } else {
        if (local.short_host.empty() || local.domain.empty())
            return failure(node_name_error::no_domain,
                           "this machine (" + local.short_host +
                               ") has no domain name, so -name needs an explicit host: -name " +
                               std::string(alive) +
                               "@host.domain or @ip-address (erl: Can't set long node name!)");
        full_host = local.short_host + "." + local.domain;
    }
    if (alive.empty())
        return failure(node_name_error::empty_alive, "empty node name before '@' (erl: Invalid node name!)");
    if (!is_valid_alive(alive))
        return failure(node_name_error::bad_alive, "invalid node name '" + std::string(alive) +
                                                       "': only 0-9 A-Z a-z _ - are allowed before '@' (erl: "
                                                       "Invalid node name!)");
    std::string name = std::string(alive) + "@" + full_host;
    auto a = atom::make(name);
    if (!a) {
        if (a.error() == atom_error::table_full)
            return failure(node_name_error::atom_table_full, "atom table full");
        if (a.error() == atom_error::too_long)
            return failure(node_name_error::too_long, "node name longer than 255 characters");
        return failure(node_name_error::bad_host, "node name is not valid UTF-8");
    }
    return *a;
}

result<atom, node_name_failure> make_node_name(std::string_view arg, naming_mode mode) {
    return make_node_name(arg, mode, local_host(mode));
}

// ---- others ----

std::optional<node_name_parts> split_node_name(std::string_view name) noexcept {
    std::size_t at = name.find('@');
    if (at == std::string_view::npos || at == 0 || at + 1 == name.size()) return std::nullopt;
    if (name.find('@', at + 1) != std::string_view::npos) return std::nullopt;
    return node_name_parts{name.substr(0, at), name.substr(at + 1)};
}

bool is_valid_alive(std::string_view alive) noexcept {
    if (alive.empty()) return false;
    for (char c : alive) {
        bool ok = (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' ||
                  c == '-';
        if (!ok) return false;
    }
    return true;
}

bool is_ip_literal(std::string_view host) noexcept {
    if (host.empty() || host.size() >= INET6_ADDRSTRLEN) return false;
    char buf[INET6_ADDRSTRLEN];
    host.copy(buf, host.size());
    buf[host.size()] = '\0';
    unsigned char addr[16];
    return ::inet_pton(AF_INET, buf, addr) == 1 || ::inet_pton(AF_INET6, buf, addr) == 1;
}

result<void, node_name_failure> can_connect(naming_mode mode, std::string_view target) {
    auto parts = split_node_name(target);
    if (!parts)
        return failure(node_name_error::bad_node_name,
                       "node name '" + std::string(target) + "' is illegal: not alive@host");
    const bool has_dot = parts->host.find('.') != std::string_view::npos;
    if (mode == naming_mode::shortnames && has_dot)
        return failure(node_name_error::host_fully_qualified,
                       "system NOT running to use fully qualified hostnames: hostname " +
                           std::string(parts->host) + " is illegal");
    if (mode == naming_mode::longnames && !has_dot && !is_ip_literal(parts->host))
        return failure(node_name_error::host_not_fully_qualified,
                       "system running to use fully qualified hostnames: hostname " +
                           std::string(parts->host) + " is illegal");
    return {};
}

result<void, node_name_failure> can_connect(naming_mode mode, atom target) {
    return can_connect(mode, target.name());
}

}  // namespace nodus::dist
