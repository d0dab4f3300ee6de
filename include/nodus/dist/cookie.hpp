// Magic cookies: the default cookie from ~/.erlang.cookie (created when missing, as erl does:
// OTP 25 kernel auth.erl), and a thread-safe store with per-node overrides
// (erlang:set_cookie/2, erlang:get_cookie/0,1).
#pragma once

#include <cstdint>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "nodus/base/result.hpp"
#include "nodus/term/atom.hpp"

namespace nodus::dist {

enum class cookie_error : std::uint8_t {
    no_home,          // neither $HOME nor an XDG config directory
    not_regular,      // the cookie file is a directory, device, ...
    bad_permissions,  // group or others may access it (mode & 077)
    read_failed,      // stat/open/read error
    bad_characters,   // characters other than ' '..'~' (trailing CR/LF/space allowed)
    too_short,        // empty
    create_failed,    // could not create the file
};
std::string_view to_string(cookie_error e) noexcept;

struct cookie_failure {
    cookie_error error{};
    std::string
        message;  // erl's wording, e.g. "Cookie file /h/.erlang.cookie must be accessible by owner only"
};

// The cookie in a cookie file's contents: printable ASCII (' '..'~'), up to the first other
// character; after that only '\n', '\r' and ' ' may follow (auth:check_cookie). So "abc def \n"
// is "abc def " and "abc\ndef" is an error.
result<std::string, cookie_failure> parse_cookie(std::string_view contents);
// Reads a cookie file; refuses anything but a regular file accessible by its owner only.
result<std::string, cookie_failure> read_cookie_file(const std::string& path);
// 20 random letters 'A'..'Z' (from OpenSSL's CSPRNG; OTP uses a weak seeded generator).
std::string random_cookie();
// Creates path with a random cookie: mode 0400 from the start (never readable by others, even
// briefly), no newline, access and modification time rounded down to midnight as OTP does.
// Fails when the file exists.
result<std::string, cookie_failure> create_cookie_file(const std::string& path);

// Where erl looks: $HOME/.erlang.cookie, then $XDG_CONFIG_HOME/erlang/.erlang.cookie
// ($XDG_CONFIG_HOME defaults to $HOME/.config).
struct cookie_locations {
    std::optional<std::string> home;        // $HOME
    std::optional<std::string> xdg_config;  // $XDG_CONFIG_HOME when set and not empty
    static cookie_locations from_environment();
};
// erl's default cookie (no -setcookie): the home file; if it does not exist, the XDG file; if
// neither exists, a new home file (XDG file when there is no home). Errors as erl reports them.
result<std::string, cookie_failure> load_default_cookie(const cookie_locations& where);
result<std::string, cookie_failure> load_default_cookie();

// The node's cookies: one default and per-node overrides. Thread-safe.
class cookie_store {
public:
    explicit cookie_store(std::string default_cookie = {});

    // erlang:get_cookie/0: the default cookie.
    std::string get_cookie() const;
    // erlang:get_cookie/1: the cookie for node (its override, else the default).
    std::string get_cookie(atom node) const;
    // The same by name, for the handshake, which has the peer's name before it is an atom: a
    // name that is not an atom yet cannot have an override, and no atom is created.
    std::string cookie_for(std::string_view node) const;

    // erlang:set_cookie/1: the default cookie.
    void set_cookie(std::string cookie);
    // erlang:set_cookie/2: the cookie for node.
    void set_cookie(atom node, std::string cookie);
    // Removes node's override (it uses the default again).
    void clear_cookie(atom node);

private:
    mutable std::shared_mutex mutex_;
    std::string default_;
    std::unordered_map<atom, std::string> per_node_;
};

}  // namespace nodus::dist
