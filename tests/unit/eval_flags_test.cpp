// The node flags of `nodus eval`, `nodus shell` and `nodus node` (tools/nodus/erl_flags.hpp):
// erl's and iex's spellings, -kernel parameters, --erl '...', and errors that name the flag.
#include "erl_flags.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

using namespace nodus;
using nodus::tools::node_args;
using nodus::tools::parse_node_args;

namespace {

node_args parse(std::vector<std::string> args) {
    return parse_node_args(args);
}

TEST(eval_flags, erl_spellings) {
    auto a = parse({"-sname", "alice", "-setcookie", "secret", "-hidden", "-e", "1."});
    EXPECT_TRUE(a.error.empty()) << a.error;
    EXPECT_TRUE(a.distributed);
    EXPECT_EQ(a.config.name, "alice");
    EXPECT_EQ(a.config.naming, naming_mode::shortnames);
    EXPECT_EQ(a.config.cookie, "secret");
    EXPECT_TRUE(a.config.hidden);
    EXPECT_EQ(a.rest, (std::vector<std::string>{"-e", "1."}));
}

TEST(eval_flags, iex_spellings) {
    auto a = parse({"--name", "bob@127.0.0.1", "--cookie", "c", "--hidden"});
    EXPECT_TRUE(a.error.empty()) << a.error;
    EXPECT_EQ(a.config.name, "bob@127.0.0.1");
    EXPECT_EQ(a.config.naming, naming_mode::longnames);
    EXPECT_EQ(a.config.cookie, "c");
    EXPECT_TRUE(a.config.hidden);
    EXPECT_TRUE(a.rest.empty());
}

TEST(eval_flags, scheduler_busy_wait_sets_how_long_idle_workers_poll) {
    EXPECT_EQ(parse({"-sname", "a"}).config.runtime.busy_poll, std::chrono::microseconds(100));
    auto none = parse({"-sname", "a", "+sbwt", "none"});
    EXPECT_TRUE(none.error.empty()) << none.error;
    EXPECT_EQ(none.config.runtime.busy_poll, std::chrono::microseconds(0));
    EXPECT_EQ(parse({"+sbwt", "very_long", "-sname", "a"}).config.runtime.busy_poll, std::chrono::microseconds(1000));
    auto bad = parse({"-sname", "a", "+sbwt", "forever"});
    EXPECT_NE(bad.error.find("+sbwt"), std::string::npos) << bad.error;
    EXPECT_NE(bad.error.find("forever"), std::string::npos) << bad.error;
    EXPECT_NE(parse({"-sname", "a", "+sbwt"}).error.find("+sbwt"), std::string::npos);
}

TEST(eval_flags, no_name_means_no_node) {
    auto a = parse({"-e", "1."});
    EXPECT_TRUE(a.error.empty());
    EXPECT_FALSE(a.distributed);
}

TEST(eval_flags, kernel_parameters) {
    auto a = parse({"-sname", "a", "-kernel", "inet_dist_listen_min", "9100", "inet_dist_listen_max", "9105",
                    "-kernel", "net_ticktime", "7", "-kernel", "inet_dist_use_interface", "{127,0,0,1}"});
    EXPECT_TRUE(a.error.empty()) << a.error;
    EXPECT_EQ(a.config.listen_port_min, 9100);
    EXPECT_EQ(a.config.listen_port_max, 9105);
    EXPECT_EQ(a.config.net_ticktime, std::chrono::seconds(7));
    EXPECT_EQ(a.config.listen_address, "127.0.0.1");
}

TEST(eval_flags, a_single_listen_bound_is_both) {
    auto a = parse({"-sname", "a", "-kernel", "inet_dist_listen_min", "9100"});
    EXPECT_TRUE(a.error.empty()) << a.error;
    EXPECT_EQ(a.config.listen_port_min, 9100);
    EXPECT_EQ(a.config.listen_port_max, 9100);
}

TEST(eval_flags, iex_erl_option) {
    auto a = parse({"--sname", "a", "--erl", "-kernel inet_dist_listen_min 9100 inet_dist_listen_max 9101"});
    EXPECT_TRUE(a.error.empty()) << a.error;
    EXPECT_EQ(a.config.listen_port_min, 9100);
    EXPECT_EQ(a.config.listen_port_max, 9101);
    auto b = parse({"--sname", "a", "--erl", "-kernel inet_dist_listen_mn 9100"});
    EXPECT_NE(b.error.find("inet_dist_listen_mn"), std::string::npos) << b.error;
    auto c = parse({"--sname", "a", "--erl", "-bogus"});
    EXPECT_NE(c.error.find("-bogus"), std::string::npos) << c.error;
}

TEST(eval_flags, connect_all_epmd_port_and_others) {
    auto a = parse({"-sname", "a", "-connect_all", "false", "-epmd_port", "4370", "-noshell", "-proto_dist",
                    "inet_tcp"});
    EXPECT_TRUE(a.error.empty()) << a.error;
    EXPECT_FALSE(a.config.connect_all);
    EXPECT_EQ(a.config.epmd_port, 4370);
    auto b = parse({"-sname", "a", "-erl_epmd_port", "9999"});
    EXPECT_EQ(b.config.no_epmd_port, 9999);
}

TEST(eval_flags, errors_name_the_flag) {
    EXPECT_NE(parse({"-sname"}).error.find("-sname"), std::string::npos);
    EXPECT_NE(parse({"-kernel", "bogus_param", "1"}).error.find("bogus_param"), std::string::npos);
    EXPECT_NE(parse({"-kernel", "inet_dist_listen_min", "x"}).error.find("inet_dist_listen_min"), std::string::npos);
    EXPECT_NE(parse({"-kernel", "net_ticktime"}).error.find("net_ticktime"), std::string::npos);
    EXPECT_NE(parse({"-connect_all", "maybe"}).error.find("-connect_all"), std::string::npos);
    EXPECT_NE(parse({"-epmd_port", "70000"}).error.find("-epmd_port"), std::string::npos);
    EXPECT_NE(parse({"-proto_dist", "inet_tls"}).error.find("-ssl_dist_optfile"), std::string::npos);
    EXPECT_NE(parse({"-proto_dist", "inet6_tcp"}).error.find("inet6_tcp"), std::string::npos);
    EXPECT_NE(parse({"-proto_dist", "inet_tls", "-ssl_dist_optfile", "/nonexistent/dist.conf"})
                  .error.find("/nonexistent/dist.conf"),
              std::string::npos);
    EXPECT_FALSE(parse({"-sname", "a", "-name", "b"}).error.empty());
    EXPECT_FALSE(parse({"-kernel", "inet_dist_listen_min", "9", "inet_dist_listen_max", "8"}).error.empty());
    // A misspelled flag is not a node flag: it is left for the subcommand, which rejects it.
    auto m = parse({"-snmae", "a"});
    EXPECT_TRUE(m.error.empty());
    EXPECT_EQ(m.rest, (std::vector<std::string>{"-snmae", "a"}));
    // -cookie is not erl's spelling (it is -setcookie) nor iex's (--cookie).
    EXPECT_EQ(parse({"-cookie", "c"}).rest.front(), "-cookie");
}

}  // namespace
