// Unit tests of node names: erl's rules for -sname/-name (each verified against erl 25, see
// node_name_erl_test.cpp), the host/domain derivation, and the short/long-names connect rule.
#include "nodus/dist/node_name.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <string>

using namespace nodus;
using namespace nodus::dist;

namespace {

host_facts facts(std::string hostname, std::optional<std::string> resolv = std::nullopt,
                 std::optional<std::string> canonical = std::nullopt) {
    host_facts f;
    f.hostname = std::move(hostname);
    f.resolv_domain = std::move(resolv);
    f.canonical_name = [canonical](const std::string&) { return canonical; };
    return f;
}

std::string name_or_error(std::string_view arg, naming_mode mode, const local_host_names& host) {
    auto r = make_node_name(arg, mode, host);
    if (!r) return std::string("error:") + std::string(to_string(r.error().error));
    return r->str();
}

const local_host_names vm{"vm", ""};
const local_host_names vm_example{"vm", "example.org"};

}  // namespace

TEST(node_name_host, derivation_follows_inet_config) {
    using m = naming_mode;
    auto d = [](const host_facts& f, m mode) {
        auto n = derive_local_host(f, mode);
        return n.short_host + "|" + n.domain;
    };
    EXPECT_EQ(d(facts("vm", std::nullopt, "vm"), m::shortnames), "vm|");
    EXPECT_EQ(d(facts("vm", std::nullopt, "vm"), m::longnames), "vm|");
    EXPECT_EQ(d(facts("vm.example.com"), m::shortnames), "vm|example.com");
    EXPECT_EQ(d(facts("a.b.c"), m::longnames), "a|b.c");
    // The canonical name fills in a missing domain...
    EXPECT_EQ(d(facts("vm", std::nullopt, "vm.corp.net"), m::shortnames), "vm|corp.net");
    // ... and replaces the host (a machine whose canonical name is localhost).
    EXPECT_EQ(d(facts("vm", std::nullopt, "localhost"), m::shortnames), "localhost|");
    EXPECT_EQ(d(facts("vm", std::nullopt, std::nullopt), m::shortnames), "vm|");
    // resolv.conf's domain counts in longnames mode only, and wins over the host name's.
    EXPECT_EQ(d(facts("vm", "example.org", "vm"), m::longnames), "vm|example.org");
    EXPECT_EQ(d(facts("vm.x.com", "y.org"), m::longnames), "vm|y.org");
    EXPECT_EQ(d(facts("vm", "example.org", "vm"), m::shortnames), "vm|");
    EXPECT_EQ(d(facts(""), m::shortnames), "nohost|nodomain");
}

TEST(node_name_host, resolv_conf_domain_line) {
    EXPECT_EQ(resolv_conf_domain("domain example.org\n"), "example.org");
    EXPECT_EQ(resolv_conf_domain("# c\n\tdomain  a.b   # comment\nsearch x y\nnameserver 1.2.3.4\n"), "a.b");
    EXPECT_EQ(resolv_conf_domain("domain a.b\r\ndomain c.d"), "c.d");  // the last one wins
    EXPECT_EQ(resolv_conf_domain("search foo.bar\n"), std::nullopt);   // search does not set it
    EXPECT_EQ(resolv_conf_domain("domain a b\n"), std::nullopt);       // not exactly two tokens
    EXPECT_EQ(resolv_conf_domain("#domain a.b\n"), std::nullopt);
    EXPECT_EQ(resolv_conf_domain(""), std::nullopt);
}

TEST(node_name_host, this_machine_has_a_short_host) {
    auto n = local_host(naming_mode::shortnames);
    EXPECT_FALSE(n.short_host.empty());
    EXPECT_EQ(n.short_host.find('.'), std::string::npos);
}

TEST(node_name_make, sname_rules) {
    const auto s = naming_mode::shortnames;
    EXPECT_EQ(name_or_error("alice", s, vm), "alice@vm");
    EXPECT_EQ(name_or_error("alice@", s, vm), "alice@vm");  // an empty host means "this machine"
    EXPECT_EQ(name_or_error("alice@localhost", s, vm), "alice@localhost");
    EXPECT_EQ(name_or_error("a-b_C9@x", s, vm), "a-b_C9@x");
    EXPECT_EQ(name_or_error("alice", s, vm_example), "alice@vm");
    EXPECT_EQ(name_or_error("a@b.c", s, vm), "error:dot_in_short_host");
    EXPECT_EQ(name_or_error("@host", s, vm), "error:empty_alive");
    EXPECT_EQ(name_or_error("", s, vm), "error:empty_alive");
    EXPECT_EQ(name_or_error("a b", s, vm), "error:bad_alive");
    EXPECT_EQ(name_or_error("a.b", s, vm), "error:bad_alive");
    EXPECT_EQ(name_or_error("h\xC3\xA9@host", s, vm), "error:bad_alive");
    EXPECT_EQ(name_or_error("a@b c", s, vm), "error:bad_host");
    EXPECT_EQ(name_or_error("a@b@c", s, vm), "error:bad_host");
    EXPECT_EQ(name_or_error("a@b\x01", s, vm), "error:bad_host");
    EXPECT_EQ(name_or_error("alice", s, local_host_names{"", ""}), "error:no_host");
    EXPECT_EQ(name_or_error(std::string(256, 'a'), s, vm), "error:too_long");
}

TEST(node_name_make, name_rules) {
    const auto l = naming_mode::longnames;
    EXPECT_EQ(name_or_error("alice", l, vm), "error:no_domain");
    EXPECT_EQ(name_or_error("alice", l, vm_example), "alice@vm.example.org");
    EXPECT_EQ(name_or_error("alice@", l, vm_example), "alice@vm.example.org");
    EXPECT_EQ(name_or_error("alice@host.domain", l, vm), "alice@host.domain");
    EXPECT_EQ(name_or_error("alice@10.0.0.1", l, vm), "alice@10.0.0.1");
    // erl accepts a dotless host with -name; the rule bites only when connecting.
    EXPECT_EQ(name_or_error("alice@b", l, vm), "alice@b");
    // Host characters up to U+00FF are allowed, above are not.
    EXPECT_EQ(name_or_error("alice@h\xC3\xB4st.x", l, vm), "alice@h\xC3\xB4st.x");
    EXPECT_EQ(name_or_error("alice@h\xC4\x80.x", l, vm), "error:bad_host");
    EXPECT_EQ(name_or_error("a%b@h.x", l, vm), "error:bad_alive");
    EXPECT_NE(make_node_name("alice", l, vm).error().message.find("Can't set long node name"),
              std::string::npos);
}

TEST(node_name_connect, split_and_literals) {
    auto p = split_node_name("alice@host");
    ASSERT_TRUE(p);
    EXPECT_EQ(p->alive, "alice");
    EXPECT_EQ(p->host, "host");
    EXPECT_FALSE(split_node_name("alice"));
    EXPECT_FALSE(split_node_name("@host"));
    EXPECT_FALSE(split_node_name("alice@"));
    EXPECT_FALSE(split_node_name("a@b@c"));
    EXPECT_TRUE(is_valid_alive("Az09_-"));
    EXPECT_FALSE(is_valid_alive(""));
    EXPECT_FALSE(is_valid_alive("a.b"));
    EXPECT_TRUE(is_ip_literal("10.0.0.1"));
    EXPECT_TRUE(is_ip_literal("::1"));
    EXPECT_TRUE(is_ip_literal("fe80::1"));
    EXPECT_FALSE(is_ip_literal("10.0.0"));
    EXPECT_FALSE(is_ip_literal("vm"));
    EXPECT_FALSE(is_ip_literal(""));
    EXPECT_FALSE(is_ip_literal(std::string(100, '1')));
}

TEST(node_name_connect, short_and_long_names) {
    auto err = [](naming_mode m, std::string_view target) -> std::string {
        auto r = can_connect(m, target);
        return r ? "ok" : std::string(to_string(r.error().error));
    };
    const auto s = naming_mode::shortnames;
    const auto l = naming_mode::longnames;
    EXPECT_EQ(err(s, "a@vm"), "ok");
    EXPECT_EQ(err(s, "a@vm.example.org"), "host_fully_qualified");
    EXPECT_EQ(err(s, "a@127.0.0.1"), "host_fully_qualified");
    EXPECT_EQ(err(s, "nohost"), "bad_node_name");
    EXPECT_EQ(err(s, "a@b@c"), "bad_node_name");
    EXPECT_EQ(err(l, "a@vm"), "host_not_fully_qualified");
    EXPECT_EQ(err(l, "a@vm.example.org"), "ok");
    EXPECT_EQ(err(l, "a@127.0.0.1"), "ok");
    EXPECT_EQ(err(l, "a@::1"), "ok");
    EXPECT_EQ(err(l, "@vm.x"), "bad_node_name");
    auto r = can_connect(s, atom("a@b.c"));
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("NOT running to use fully qualified hostnames"), std::string::npos);
}
