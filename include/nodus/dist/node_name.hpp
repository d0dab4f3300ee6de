// Node names (alive@host): building our own from -sname/-name arguments exactly as erl does
// (net_kernel:create_name and inet_config's idea of this machine's host and domain), and the
// short/long-names rule for connecting to others (inet_tcp_dist:splitnode, handshake.md §2).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "nodus/base/result.hpp"
#include "nodus/term/atom.hpp"

namespace nodus::dist {

// -sname (host names without dots) or -name (fully qualified host names or IP addresses).
enum class naming_mode : std::uint8_t { shortnames, longnames };

enum class node_name_error : std::uint8_t {
    empty_alive,               // nothing before '@'                           (erl: "Invalid node name!")
    bad_alive,                 // alive part outside ^[0-9A-Za-z_\-]+$          (erl: "Invalid node name!")
    bad_host,                  // host characters outside '!'..'ÿ', or a 2nd '@' (erl: "Invalid node name!")
    dot_in_short_host,         // -sname alive@host.domain           (erl: "Can't set short node name!")
    no_host,                   // this machine's host name is unknown (erl: "Can't set short node name!")
    no_domain,                 // -name alive, but this machine has no domain
                               //                                     (erl: "Can't set long node name!")
    too_long,                  // more than 255 characters (atom limit)
    atom_table_full,           // the name could not be interned
    bad_node_name,             // not alive@host (connecting)
    host_fully_qualified,      // shortnames node, target host with a '.' (connecting)
    host_not_fully_qualified,  // longnames node, target host without '.' and not an IP (connecting)
};
std::string_view to_string(node_name_error e) noexcept;

struct node_name_failure {
    node_name_error error{};
    std::string message;  // for the user: what is wrong and what erl would say
};

// ---- this machine's names, as erl's inet_config determines them ----

// inet_db:gethostname() and inet_db:res_option(domain) after inet_config:init.
struct local_host_names {
    std::string short_host;
    std::string domain;  // empty when unknown
};

// The system facts inet_config uses.
struct host_facts {
    std::string hostname;  // gethostname(); may contain dots
    // The `domain` line of resolv.conf ($ERL_INET_ETC_DIR/resolv.conf, default /etc): erl reads
    // it only in longnames mode.
    std::optional<std::string> resolv_domain;
    // The canonical name of a host (gethostbyname's h_name), or nullopt when the lookup fails.
    std::function<std::optional<std::string>(const std::string& host)> canonical_name;
};

// Pure: inet_config:init's steps. (1) gethostname() split at the first '.' into host and domain
// ("nohost"/"nodomain" when empty); (2) longnames: resolv.conf's `domain` replaces the domain;
// (3) on Linux, when the domain is still empty, the canonical name of the host replaces both
// (so a host whose canonical name is localhost.localdomain gets host "localhost").
local_host_names derive_local_host(const host_facts& facts, naming_mode mode);
// The facts of this machine: gethostname(), resolv.conf, getaddrinfo(AI_CANONNAME) (a blocking
// lookup: call at node start, not on a scheduler thread).
host_facts system_host_facts(naming_mode mode);
// The `domain` of resolv.conf text (the last `domain` line wins; `search` does not count).
std::optional<std::string> resolv_conf_domain(std::string_view contents);
// derive_local_host(system_host_facts(mode), mode).
local_host_names local_host(naming_mode mode);

// ---- our own node name ----

// The node name for `-sname arg` / `-name arg` (arg = "alive" or "alive@host"), as erl builds it.
// Without a host, shortnames use the local short host name and longnames host.domain. Rules
// verified against erl 25 on this machine: "a@b.c" is refused with -sname; -name accepts any
// printable host ("a@b" included: erl checks dots only when connecting, see can_connect);
// "a@" is the same as "a".
result<atom, node_name_failure> make_node_name(std::string_view arg, naming_mode mode,
                                               const local_host_names& host);
result<atom, node_name_failure> make_node_name(std::string_view arg, naming_mode mode);

// ---- names of others ----

struct node_name_parts {
    std::string_view alive;
    std::string_view host;
};
// alive@host with exactly one '@' and both parts non-empty (dist_util:is_node_name).
std::optional<node_name_parts> split_node_name(std::string_view name) noexcept;
// ^[0-9A-Za-z_\-]+$: what erl allows before the '@' of its own name.
bool is_valid_alive(std::string_view alive) noexcept;
// An IPv4 (dotted quad) or IPv6 literal.
bool is_ip_literal(std::string_view host) noexcept;

// Whether a node in `mode` may initiate a connection to target (inet_tcp_dist:splitnode):
// shortnames refuse a host with a '.'; longnames refuse a host without a '.' unless it is an IP
// address literal (IPv6: as inet6_tcp_dist does). Incoming connections are not checked.
result<void, node_name_failure> can_connect(naming_mode mode, std::string_view target);
result<void, node_name_failure> can_connect(naming_mode mode, atom target);

}  // namespace nodus::dist
