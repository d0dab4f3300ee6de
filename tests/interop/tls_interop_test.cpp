// TLS distribution against real OTP 25 nodes started with -proto_dist inet_tls, both ways, with
// certificates the test makes (openssl, two CAs) and one option file read by erl and by nodus:
// verify_peer on both sides, fail_if_no_peer_cert on the server side. Also: a plain node cannot
// reach a TLS node, and a certificate from another CA is refused with a logged reason while the
// node goes on serving everyone else.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>

#include "cluster.hpp"
#include "nodus/dist/tls.hpp"
#include "nodus/node/net.hpp"
#include "nodus/services/services.hpp"
#include "nodus/term/text.hpp"

using namespace nodus;
using namespace nodus::literals;
using namespace nodus::test;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

// A CA and a node certificate signed by it (EC P-256: quick to make), for this machine's short
// host name (what OTP's client checks against the SNI it sends) and 127.0.0.1.
struct cert_set {
    std::string ca, cert, key, optfile;
};

bool sh(const std::string& cmd) {
    return std::system((cmd + " >/dev/null 2>&1").c_str()) == 0;
}

cert_set make_certs(const fs::path& dir, const std::string& tag) {
    fs::create_directories(dir);
    auto p = [&](const std::string& f) { return (dir / (tag + f)).string(); };
    cert_set s{p("_ca.pem"), p("_node.pem"), p("_node.key"), p("_dist.conf")};
    const std::string ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
    {
        std::ofstream ext(p("_ext.cnf"));
        ext << "subjectAltName=DNS:" << short_host() << ",DNS:localhost,IP:127.0.0.1\n"
            << "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n"
            << "extendedKeyUsage=serverAuth,clientAuth\n";
    }
    bool ok = sh("openssl req -x509 " + ec + " -keyout " + p("_ca.key") + " -out " + s.ca +
                 " -days 2 -subj /CN=nodus-test-ca-" + tag) &&
              sh("openssl req " + ec + " -keyout " + s.key + " -out " + p("_node.csr") +
                 " -subj /CN=" + short_host()) &&
              sh("openssl x509 -req -in " + p("_node.csr") + " -CA " + s.ca + " -CAkey " + p("_ca.key") +
                 " -CAcreateserial -out " + s.cert + " -days 2 -extfile " + p("_ext.cnf"));
    if (!ok) throw std::runtime_error("openssl could not make the test certificates");
    std::ofstream conf(s.optfile);
    auto files =
        "{certfile, \"" + s.cert + "\"}, {keyfile, \"" + s.key + "\"}, {cacertfile, \"" + s.ca + "\"}";
    conf << "[{server, [" << files << ", {verify, verify_peer}, {fail_if_no_peer_cert, true}]},\n"
         << " {client, [" << files << ", {verify, verify_peer}]}].\n";
    return s;
}

class tls_interop : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        dir_ = fs::temp_directory_path() / ("nodus_tls_" + std::to_string(::getpid()));
        if (!sh("openssl version")) return;
        good_ = make_certs(dir_, "good");
        other_ = make_certs(dir_, "other");
    }
    static void TearDownTestSuite() {
        std::error_code ec;
        fs::remove_all(dir_, ec);
    }
    void SetUp() override {
        if (good_.optfile.empty()) GTEST_SKIP() << "openssl is not installed";
        NODUS_REQUIRE_ERL(erl);
        erl_ = erl;
        epmd_ = std::make_unique<epmd_daemon>();
    }

    std::unique_ptr<erl_node> start_erl_tls(const std::string& prefix) {
        erl_node_options o;
        o.sname = unique_name(prefix);
        o.cookie = "cookie";
        o.epmd_port = epmd_->port();
        o.args = {"-proto_dist", "inet_tls", "-ssl_dist_optfile", good_.optfile};
        return std::make_unique<erl_node>(erl_, o);
    }
    // A nodus node with the option file (or plain TCP when optfile is empty); logs are kept.
    std::unique_ptr<node> start_nodus(const std::string& prefix, const std::string& optfile) {
        return nodus::test::start_nodus(unique_name(prefix), "cookie", epmd_->port(), [&](node_config& c) {
            if (!optfile.empty()) {
                auto o = dist::read_ssl_dist_optfile(optfile);
                if (!o) throw std::runtime_error(o.error());
                c.tls = *o;
            }
            c.log = logs_.sink();
        });
    }

    static inline fs::path dir_;
    static inline cert_set good_, other_;
    std::string erl_;
    std::unique_ptr<epmd_daemon> epmd_;
    log_capture logs_;
};

task<term> ping_task(atom peer) {
    co_return term(co_await net_adm::ping(peer));
}

}  // namespace

TEST_F(tls_interop, the_option_file_format_is_erls) {
    auto o = dist::parse_ssl_dist_options(
        "%% a comment\n[{server, [{certfile, \"/c.pem\"}, {keyfile, \"/k.pem\"}, {verify, verify_peer},\n"
        "  {fail_if_no_peer_cert, true}, {secure_renegotiate, true}, {versions, ['tlsv1.2', 'tlsv1.3']}]},\n"
        " {client, [{cacertfile, \"/ca.pem\"}, {verify, verify_none}, {depth, 3}]}].");
    ASSERT_TRUE(o) << o.error();
    EXPECT_EQ(o->server.certfile, "/c.pem");
    EXPECT_EQ(o->server.keyfile, "/k.pem");
    EXPECT_TRUE(o->server.verify_peer);
    EXPECT_TRUE(o->server.fail_if_no_peer_cert);
    EXPECT_EQ(o->server.versions.size(), 2u);
    EXPECT_EQ(o->client.cacertfile, "/ca.pem");
    EXPECT_FALSE(o->client.verify_peer);
    EXPECT_EQ(o->client.depth, 3);
    // What would change what is accepted is an error naming it, not silently dropped.
    auto bad =
        dist::parse_ssl_dist_options("[{server, [{verify_fun, {fun inet_tls_dist:verify_client/3, []}}]}].");
    ASSERT_FALSE(bad);
    EXPECT_NE(bad.error().find("verify_fun"), std::string::npos) << bad.error();
    EXPECT_FALSE(dist::parse_ssl_dist_options("[{server, [{verify, maybe}]}]."));
    EXPECT_FALSE(dist::parse_ssl_dist_options("[{serverr, []}]."));
    EXPECT_FALSE(dist::parse_ssl_dist_options("[{server, [{versions, ['tlsv1.1']}]}]."));
    EXPECT_FALSE(dist::read_ssl_dist_optfile("/nonexistent/dist.conf"));
}

TEST_F(tls_interop, erl_and_nodus_connect_over_tls_both_ways) {
    auto e = start_erl_tls("erl");
    auto a = start_nodus("tls_a", good_.optfile);
    atom peer = e->name();
    // nodus -> erl: TLS client here, server on erl.
    EXPECT_EQ(in_process(*a, [peer] { return ping_task(peer); }), term("pong"_a)) << logs_.text();
    // erl says the connection is TLS.
    EXPECT_EQ(e->eval(*a, "{ok, I} = net_kernel:node_info(" + quoted(a->name()) +
                              "), element(4, proplists:get_value(address, I))."),
              term("tls"_a));
    // erl -> nodus: a fresh nodus node, erl dials.
    auto b = start_nodus("tls_b", good_.optfile);
    services::start_defaults(*b);  // rex, for rpc:call from erl
    EXPECT_EQ(e->eval(*a, "net_adm:ping(" + quoted(b->name()) + ")."), term("pong"_a)) << logs_.text();
    EXPECT_TRUE(eventually([&] { return b->nodes().size() >= 1; }));
    // Messages and calls go through: rpc from erl to b, whose answer crosses TLS again.
    EXPECT_EQ(e->eval(*a, "rpc:call(" + quoted(b->name()) + ", erlang, node, [])."), term(b->name()));
    // A 4 MiB binary both ways inside TLS (many TLS records per distribution packet), through
    // an echo process on b.
    b->rt().spawn([]() -> task<> {
        register_name("echo"_a, self());
        for (;;) {
            var<pid> from;
            var<term> msg;
            co_await receive(pat::tuple(from, msg));
            send(*from, tuple("echo"_a, *msg));
        }
    });
    EXPECT_EQ(e->eval(*a, "B = binary:copy(<<\"tls\">>, 1398101), {echo, " + quoted(b->name()) +
                              "} ! {self(), B}, receive {echo, B2} -> B2 =:= B after 20000 -> timeout end."),
              term(atoms::true_));
}

TEST_F(tls_interop, nodus_nodes_speak_tls_to_each_other) {
    auto a = start_nodus("tls_a", good_.optfile);
    auto b = start_nodus("tls_b", good_.optfile);
    atom peer = b->name();
    EXPECT_EQ(in_process(*a, [peer] { return ping_task(peer); }), term("pong"_a)) << logs_.text();
}

TEST_F(tls_interop, a_plain_node_cannot_connect_to_a_tls_node) {
    auto e = start_erl_tls("erl");
    auto tls = start_nodus("tls", good_.optfile);
    auto plain = start_nodus("plain", "");
    atom tls_name = tls->name(), erl_name = e->name(), plain_name = plain->name();
    EXPECT_EQ(in_process(*plain, [tls_name] { return ping_task(tls_name); }), term("pang"_a));
    EXPECT_EQ(in_process(*plain, [erl_name] { return ping_task(erl_name); }), term("pang"_a));
    EXPECT_EQ(in_process(*tls, [plain_name] { return ping_task(plain_name); }), term("pang"_a));
    EXPECT_TRUE(eventually([&] { return logs_.contains("TLS handshake"); })) << logs_.text();
    // The TLS node goes on serving TLS peers.
    EXPECT_EQ(in_process(*tls, [erl_name] { return ping_task(erl_name); }), term("pong"_a)) << logs_.text();
}

TEST_F(tls_interop, a_certificate_from_another_ca_is_refused) {
    auto e = start_erl_tls("erl");
    auto good = start_nodus("good", good_.optfile);
    auto stranger = start_nodus("stranger", other_.optfile);
    atom good_name = good->name(), erl_name = e->name(), stranger_name = stranger->name();
    // Either way round, to nodus and to erl.
    EXPECT_EQ(in_process(*stranger, [good_name] { return ping_task(good_name); }), term("pang"_a));
    EXPECT_EQ(in_process(*good, [stranger_name] { return ping_task(stranger_name); }), term("pang"_a));
    EXPECT_EQ(in_process(*stranger, [erl_name] { return ping_task(erl_name); }), term("pang"_a));
    EXPECT_EQ(e->eval(*good, "net_adm:ping(" + quoted(stranger_name) + ")."), term("pang"_a));
    EXPECT_TRUE(eventually([&] { return logs_.contains("certificate verify failed"); })) << logs_.text();
    EXPECT_TRUE(stranger->nodes().empty());
    // Everyone else is unaffected.
    EXPECT_EQ(in_process(*good, [erl_name] { return ping_task(erl_name); }), term("pong"_a));
}

TEST_F(tls_interop, a_bad_option_file_stops_the_node_from_starting_with_a_reason) {
    node_config c;
    c.name = unique_name("bad");
    c.cookie = "cookie";
    c.epmd_port = epmd_->port();
    c.start_epmd = false;
    dist::tls_options o;
    o.server.certfile = "/nonexistent/cert.pem";
    c.tls = o;
    auto n = node::start(c);
    ASSERT_FALSE(n);
    EXPECT_NE(n.error().message.find("/nonexistent/cert.pem"), std::string::npos) << n.error().message;
}
