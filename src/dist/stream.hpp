// The byte stream under a distribution connection: a plain TCP socket (inet_tcp_dist) or TLS
// over one (inet_tls_dist). Both offer the same asynchronous reads and writes, so the
// connection's code is the same for both; only the setup differs (the TLS handshake first).
//
// States: plain, or TLS: handshaking -> ready. Not thread-safe: used on the connection's worker.
#pragma once

#include <asio.hpp>
#include <asio/ssl.hpp>
#include <cstdint>
#include <iterator>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace nodus::detail {

class dist_stream {
public:
    explicit dist_stream(asio::ip::tcp::socket sock) : plain_(std::move(sock)) {}
    dist_stream(asio::ip::tcp::socket sock, asio::ssl::context& ctx) : tls_(std::in_place, std::move(sock), ctx) {}

    bool is_tls() const noexcept { return tls_.has_value(); }
    asio::ip::tcp::socket& socket() { return tls_ ? tls_->next_layer() : *plain_; }
    SSL* ssl() { return tls_ ? tls_->native_handle() : nullptr; }

    // TLS only: the client sends server_name (SNI) = the host part of the node name we dial, and
    // checks the certificate against it when it verifies, as OTP's inet_tls_dist does.
    void expect_host(const std::string& host, bool verify) {
        if (!tls_) return;
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wold-style-cast"  // OpenSSL's macro casts to void*
        SSL_set_tlsext_host_name(tls_->native_handle(), host.c_str());
#pragma GCC diagnostic pop
        if (verify) tls_->set_verify_callback(asio::ssl::host_name_verification(host));
    }

    // TLS: the handshake in the given role; plain: completes at once.
    template <class Handler>
    void async_start(bool client, Handler&& h) {
        if (!tls_) {
            asio::post(socket().get_executor(), [h = std::forward<Handler>(h)]() mutable { h(asio::error_code()); });
            return;
        }
        tls_->async_handshake(client ? asio::ssl::stream_base::client : asio::ssl::stream_base::server,
                              std::forward<Handler>(h));
    }

    template <class Buffers, class Handler>
    void async_read_some(const Buffers& b, Handler&& h) {
        if (tls_)
            tls_->async_read_some(b, std::forward<Handler>(h));
        else
            plain_->async_read_some(b, std::forward<Handler>(h));
    }
    // A completion condition for async_write: everything, as much per write as the buffers
    // hold (asio still caps a write at 64 buffers).
    struct whole_writes {
        std::size_t operator()(const asio::error_code& ec, std::size_t) const noexcept {
            return ec ? 0 : std::size_t{1} << 30;
        }
    };
    // Writes all of b. One write at a time (the connection sees to it).
    template <class Buffers, class Handler>
    void async_write_all(const Buffers& b, Handler&& h) {
        if (!tls_) {
            // asio's own completion conditions hand at most 64 KiB to each sendmsg; a 1 MiB
            // batch then takes 16 system calls (and loopback moves far less per second).
            asio::async_write(*plain_, b, whole_writes{}, std::forward<Handler>(h));
            return;
        }
        // TLS encrypts one buffer per SSL_write, each its own record (and write): gather the
        // small buffers of a batch of packets into one first.
        if (std::distance(asio::buffer_sequence_begin(b), asio::buffer_sequence_end(b)) <= 1) {
            asio::async_write(*tls_, b, std::forward<Handler>(h));
            return;
        }
        gathered_.resize(asio::buffer_size(b));
        asio::buffer_copy(asio::buffer(gathered_), b);
        asio::async_write(*tls_, asio::buffer(gathered_), std::forward<Handler>(h));
    }

    void shutdown_and_close() {
        asio::error_code ec;
        socket().shutdown(asio::ip::tcp::socket::shutdown_both, ec);
        socket().close(ec);
    }

private:
    std::optional<asio::ip::tcp::socket> plain_;
    std::optional<asio::ssl::stream<asio::ip::tcp::socket>> tls_;
    std::vector<std::uint8_t> gathered_;
};

}  // namespace nodus::detail
