// The -ssl_dist_optfile format and OpenSSL contexts for TLS distribution (reference/tls.md).
#include "nodus/dist/tls.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <fstream>
#include <sstream>

#include "dist/tls_context.hpp"
#include "nodus/io/chardata.hpp"
#include "nodus/term/text.hpp"

namespace nodus::dist {

namespace {

using namespace nodus::literals;

std::string text_of(const term& t) {
    return format_w(t);
}

bool is_proper(const term& list) {
    const term* t = &list;
    while (t->is_cons()) t = &t->tail();
    return t->is_nil();
}

result<std::string, std::string> string_value(const term& key, const term& v) {
    auto s = io_lib::chardata_to_utf8(v);
    if (!s) return unexpected(text_of(key) + ": expected a string, got " + text_of(v));
    return *s;
}

result<void, std::string> parse_role(const term& list, tls_role_options& o, bool server) {
    if (!list.is_list()) return unexpected(std::string(server ? "server" : "client") + ": expected a list of options");
    for (const term* t = &list; t->is_cons(); t = &t->tail()) {
        const term& opt = t->head();
        if (!opt.is_tuple(2) || !opt[0].is_atom())
            return unexpected("expected {Option, Value}, got " + text_of(opt));
        const term& key = opt[0];
        const term& v = opt[1];
        const std::string_view k = key.as_atom().name();
        auto str = [&](std::string& into) -> result<void, std::string> {
            auto s = string_value(key, v);
            if (!s) return unexpected(s.error());
            into = *s;
            return {};
        };
        if (k == "certfile") {
            if (auto r = str(o.certfile); !r) return r;
        } else if (k == "keyfile") {
            if (auto r = str(o.keyfile); !r) return r;
        } else if (k == "password") {
            if (auto r = str(o.password); !r) return r;
        } else if (k == "cacertfile") {
            if (auto r = str(o.cacertfile); !r) return r;
        } else if (k == "ciphers") {
            if (auto r = str(o.ciphers); !r) return unexpected("ciphers: only an OpenSSL cipher string is supported");
        } else if (k == "verify") {
            if (v.is_atom("verify_peer"_a))
                o.verify_peer = true;
            else if (v.is_atom("verify_none"_a))
                o.verify_peer = false;
            else
                return unexpected("verify: expected verify_peer or verify_none, got " + text_of(v));
        } else if (k == "fail_if_no_peer_cert") {
            if (!v.is_atom(atoms::true_) && !v.is_atom(atoms::false_))
                return unexpected("fail_if_no_peer_cert: expected a boolean, got " + text_of(v));
            o.fail_if_no_peer_cert = v.is_atom(atoms::true_);
        } else if (k == "depth") {
            auto d = v.to_int64();
            if (!d || *d < 0 || *d > 100) return unexpected("depth: expected an integer 0..100, got " + text_of(v));
            o.depth = static_cast<int>(*d);
        } else if (k == "versions") {
            o.versions.clear();
            for (const term* x = &v; x->is_cons(); x = &x->tail()) {
                if (!x->head().is_atom()) return unexpected("versions: expected atoms, got " + text_of(v));
                std::string name(x->head().as_atom().name());
                if (name != "tlsv1.2" && name != "tlsv1.3")
                    return unexpected("versions: " + name + " is not supported (only 'tlsv1.2' and 'tlsv1.3')");
                o.versions.push_back(name);
            }
            if (o.versions.empty()) return unexpected("versions: the list is empty");
        } else if (k == "secure_renegotiate" || k == "reuse_sessions" || k == "hibernate_after" ||
                   k == "log_level" || k == "honor_cipher_order") {
            // No effect on what is accepted: OpenSSL renegotiates securely or not at all, and
            // session reuse and hibernation are about resources.
        } else {
            return unexpected(std::string(k) +
                              ": not supported by nodus (it would change what is accepted, so it is not ignored)");
        }
    }
    if (!list.is_list() || !is_proper(list)) return unexpected(std::string(server ? "server" : "client") + ": an improper list");
    return {};
}

std::string openssl_error() {
    unsigned long e = ERR_get_error();
    if (e == 0) return "unknown OpenSSL error";
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    ERR_clear_error();
    return buf;
}

}  // namespace

result<tls_options, std::string> parse_ssl_dist_options(std::string_view text) {
    auto t = parse_term(text);
    if (!t) return unexpected("not an Erlang term: " + t.error().describe());
    if (!t->is_list() || !is_proper(*t))
        return unexpected("expected a list [{server, [...]}, {client, [...]}]");
    tls_options out;
    for (const term* x = &*t; x->is_cons(); x = &x->tail()) {
        const term& e = x->head();
        if (!e.is_tuple(2) || !(e[0].is_atom("server"_a) || e[0].is_atom("client"_a)))
            return unexpected("expected {server, Options} or {client, Options}, got " + text_of(e));
        bool server = e[0].is_atom("server"_a);
        auto r = parse_role(e[1], server ? out.server : out.client, server);
        if (!r) return unexpected(std::string(server ? "server" : "client") + " option " + r.error());
    }
    return out;
}

result<tls_options, std::string> read_ssl_dist_optfile(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return unexpected("cannot read the ssl_dist_optfile " + path);
    std::stringstream ss;
    ss << in.rdbuf();
    auto r = parse_ssl_dist_options(ss.str());
    if (!r) return unexpected(path + ": " + r.error());
    return r;
}

result<std::shared_ptr<asio::ssl::context>, std::string> make_tls_context(const tls_role_options& o, bool server) {
    const char* role = server ? "server" : "client";
    auto ctx = std::make_shared<asio::ssl::context>(server ? asio::ssl::context::tls_server
                                                           : asio::ssl::context::tls_client);
    SSL_CTX* c = ctx->native_handle();
    int lo = TLS1_2_VERSION, hi = TLS1_3_VERSION;
    if (!o.versions.empty()) {
        lo = TLS1_3_VERSION;
        hi = TLS1_2_VERSION;
        for (const auto& v : o.versions) {
            int n = v == "tlsv1.2" ? TLS1_2_VERSION : TLS1_3_VERSION;
            lo = std::min(lo, n);
            hi = std::max(hi, n);
        }
    }
    SSL_CTX_set_min_proto_version(c, lo);
    SSL_CTX_set_max_proto_version(c, hi);
    // Session tickets are of no use to long-lived connections. Renegotiation stays on (secure
    // renegotiation only, OpenSSL's default): OTP's ssl renegotiates TLS 1.2 connections by itself
    // after many records.
    SSL_CTX_set_options(c, SSL_OP_NO_TICKET);
    if (!o.password.empty()) {
        std::string pw = o.password;
        ctx->set_password_callback([pw](std::size_t, asio::ssl::context::password_purpose) { return pw; });
    }
    asio::error_code ec;
    if (!o.certfile.empty()) {
        ctx->use_certificate_chain_file(o.certfile, ec);
        if (ec) return unexpected(std::string(role) + " certfile " + o.certfile + ": " + openssl_error());
        const std::string& key = o.keyfile.empty() ? o.certfile : o.keyfile;
        ctx->use_private_key_file(key, asio::ssl::context::pem, ec);
        if (ec) return unexpected(std::string(role) + " keyfile " + key + ": " + openssl_error());
        if (SSL_CTX_check_private_key(c) != 1)
            return unexpected(std::string(role) + ": the key does not match the certificate: " + openssl_error());
    } else if (server) {
        return unexpected("server: a certfile is required to accept TLS connections");
    }
    if (!o.cacertfile.empty()) {
        ctx->load_verify_file(o.cacertfile, ec);
        if (ec) return unexpected(std::string(role) + " cacertfile " + o.cacertfile + ": " + openssl_error());
    }
    if (o.verify_peer && o.cacertfile.empty())
        return unexpected(std::string(role) + ": {verify, verify_peer} needs a cacertfile");
    if (!o.ciphers.empty() && SSL_CTX_set_cipher_list(c, o.ciphers.c_str()) != 1)
        return unexpected(std::string(role) + " ciphers: " + openssl_error());
    if (o.depth >= 0) SSL_CTX_set_verify_depth(c, o.depth);
    int mode = asio::ssl::verify_none;
    if (o.verify_peer) {
        mode = asio::ssl::verify_peer;
        if (server && o.fail_if_no_peer_cert) mode |= asio::ssl::verify_fail_if_no_peer_cert;
    }
    ctx->set_verify_mode(mode, ec);
    if (ec) return unexpected(std::string(role) + ": " + ec.message());
    return ctx;
}

}  // namespace nodus::dist
