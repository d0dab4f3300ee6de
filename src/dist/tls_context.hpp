// OpenSSL contexts for TLS distribution, made from -ssl_dist_optfile options (internal: the
// public header does not pull in Asio's SSL headers).
#pragma once

#include <asio/ssl.hpp>
#include <memory>
#include <string>

#include "nodus/base/result.hpp"
#include "nodus/dist/tls.hpp"

namespace nodus::dist {

// A context for one role; errors name the option and OpenSSL's reason.
result<std::shared_ptr<asio::ssl::context>, std::string> make_tls_context(const tls_role_options& o, bool server);

}  // namespace nodus::dist
