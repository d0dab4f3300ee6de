// TLS distribution (OTP's inet_tls_dist, reference/tls.md): TLS first, then the ordinary
// handshake inside it with 4-byte framing. The options are those of erl's
// -ssl_dist_optfile: one list with a `server` entry (used when accepting) and a `client` entry
// (used when connecting), each a list of ssl options:
//
//     [{server, [{certfile, "cert.pem"}, {keyfile, "key.pem"}, {cacertfile, "ca.pem"},
//                {verify, verify_peer}, {fail_if_no_peer_cert, true}]},
//      {client, [{certfile, "cert.pem"}, {keyfile, "key.pem"}, {cacertfile, "ca.pem"},
//                {verify, verify_peer}]}].
//
// The same file works for erl and for nodus. Options that would change security and that nodus
// cannot honour (verify_fun, crl_check, ...) are an error naming the option, not ignored.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "nodus/base/result.hpp"

namespace nodus::dist {

// One role's ssl options.
struct tls_role_options {
    std::string certfile;    // PEM certificate (chain); required for the server role
    std::string keyfile;     // PEM private key; default: the certfile
    std::string password;    // of an encrypted keyfile
    std::string cacertfile;  // PEM CA certificates that verify the peer
    bool verify_peer = false;           // {verify, verify_peer}; OTP 25's default is verify_none
    bool fail_if_no_peer_cert = false;  // server: a client without a certificate is refused
    int depth = -1;                     // {depth, N}: longest chain accepted (-1: OpenSSL's)
    // {versions, [...]}: 'tlsv1.2', 'tlsv1.3'. Empty: TLS 1.2 and 1.3 (OTP 25 offers only 1.2
    // unless told otherwise; the two agree on 1.2).
    std::vector<std::string> versions;
    std::string ciphers;  // OpenSSL cipher list for TLS 1.2 (empty: OpenSSL's default)
};

struct tls_options {
    tls_role_options server;
    tls_role_options client;
};

// Parses the text of an -ssl_dist_optfile. Errors name what is wrong.
result<tls_options, std::string> parse_ssl_dist_options(std::string_view text);
// Reads and parses the file.
result<tls_options, std::string> read_ssl_dist_optfile(const std::string& path);

}  // namespace nodus::dist
