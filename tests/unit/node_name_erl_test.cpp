// Node names against erl 25 on this machine: for each -sname/-name argument, erl and
// make_node_name agree on the name or both refuse it; our idea of this machine's short host and
// domain is erl's (inet_db:gethostname/0, inet_db:res_option(domain)), also with a resolv.conf
// that sets a domain (ERL_INET_ETC_DIR). Uses a private epmd; every erl is stopped by PID.
#include <gtest/gtest.h>

#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "child_process.hpp"
#include "handshake_support.hpp"
#include "nodus/dist/node_name.hpp"

using namespace nodus;
using namespace nodus::dist;
using namespace nodus::test;
using namespace std::chrono_literals;

namespace {

struct name_case {
    std::string arg;
    naming_mode mode;
};

const char* const print_node =
    "io:format(\"node=~s~n\", [node()]), "
    "io:format(\"hostinfo=~s|~s~n\", [inet_db:gethostname(), inet_db:res_option(domain)]), halt().";

std::unique_ptr<child_process> start_named(const std::string& erl, const private_epmd& epmd,
                                           const name_case& c,
                                           std::vector<std::pair<std::string, std::string>> env = {}) {
    spawn_options o;
    o.argv = {erl,   "-noshell", c.mode == naming_mode::shortnames ? "-sname" : "-name",
              c.arg, "-eval",    print_node};
    o.env = {{"ERL_CRASH_DUMP_SECONDS", "0"}, epmd.env()};
    o.env.insert(o.env.end(), env.begin(), env.end());
    o.err = stderr_mode::merge;
    return std::make_unique<child_process>(o);
}

// "node=NAME" from erl's output, or "" when erl refused the name.
std::string erl_node(child_process& p, std::string* hostinfo = nullptr) {
    std::string out = p.read_all(60s);
    p.wait(10s);
    std::string node;
    std::size_t at = out.find("node=");
    if (at != std::string::npos) node = out.substr(at + 5, out.find('\n', at) - at - 5);
    if (hostinfo) {
        std::size_t h = out.find("hostinfo=");
        if (h != std::string::npos) *hostinfo = out.substr(h + 9, out.find('\n', h) - h - 9);
    }
    return node;
}

std::string ours(const std::string& arg, naming_mode mode) {
    auto r = make_node_name(arg, mode);
    return r ? r->str() : std::string();
}

}  // namespace

TEST(node_name_erl, make_node_name_agrees_with_erl) {
    NODUS_REQUIRE_ERL(erl);
    private_epmd epmd;
    const std::string u = "hsn" + std::to_string(::getpid()) + "_";
    const auto s = naming_mode::shortnames;
    const auto l = naming_mode::longnames;
    std::vector<name_case> cases = {
        {u + "1", s},           {u + "2", l},          {u + "3@b.c", s}, {u + "4@localhost", s},
        {u + "5@b", l},         {u + "6@10.0.0.1", l}, {u + "7 x", s},   {"@host", s},
        {u + "8.x", s},         {u + "9@a@b", s},      {u + "10@", s},   {u + "11@b c", s},
        {u + "12@host.dom", l}, {u + "13\xC3\xA9", s},
    };
    std::vector<std::unique_ptr<child_process>> procs;
    for (const auto& c : cases)
        procs.push_back(start_named(erl, epmd, c));
    std::vector<std::string> theirs;
    for (std::size_t i = 0; i < cases.size(); ++i) {
        SCOPED_TRACE((cases[i].mode == s ? "-sname " : "-name ") + cases[i].arg);
        theirs.push_back(erl_node(*procs[i]));
        EXPECT_EQ(ours(cases[i].arg, cases[i].mode), theirs.back());
    }
    // Facts that hold on every machine (so the comparison above cannot pass by erl never starting).
    EXPECT_NE(theirs[0], "") << "erl -sname must work here";
    EXPECT_EQ(theirs[2], "") << "-sname a@b.c";
    EXPECT_EQ(theirs[4], u + "5@b") << "-name a@b";
    EXPECT_EQ(theirs[7], "") << "-sname @host";
    EXPECT_EQ(theirs[10], theirs[0].substr(0, u.size()) + "10" + theirs[0].substr(theirs[0].find('@')))
        << "-sname a@ is -sname a";
}

TEST(node_name_erl, local_host_and_domain_agree_with_erl) {
    NODUS_REQUIRE_ERL(erl);
    private_epmd epmd;
    const std::string u = "hsh" + std::to_string(::getpid()) + "_";
    for (naming_mode mode : {naming_mode::shortnames, naming_mode::longnames}) {
        // An explicit host, so that erl starts even where it has no domain.
        name_case c{u + (mode == naming_mode::shortnames ? "s@localhost" : "l@127.0.0.1"), mode};
        auto p = start_named(erl, epmd, c);
        std::string info;
        ASSERT_NE(erl_node(*p, &info), "");
        auto n = local_host(mode);
        EXPECT_EQ(n.short_host + "|" + n.domain, info)
            << (mode == naming_mode::shortnames ? "shortnames" : "longnames");
    }
}

TEST(node_name_erl, resolv_conf_domain_gives_long_names) {
    NODUS_REQUIRE_ERL(erl);
    private_epmd epmd;
    auto dir = std::filesystem::temp_directory_path() / ("nodus_hs_etc_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    std::ofstream(dir / "resolv.conf") << "search ignored.example\ndomain example.org\n";
    const std::string alive = "hsd" + std::to_string(::getpid());
    auto p = start_named(erl, epmd, {alive, naming_mode::longnames}, {{"ERL_INET_ETC_DIR", dir.string()}});
    std::string theirs = erl_node(*p);
    ::setenv("ERL_INET_ETC_DIR", dir.c_str(), 1);
    std::string mine = ours(alive, naming_mode::longnames);
    ::unsetenv("ERL_INET_ETC_DIR");
    std::filesystem::remove_all(dir);
    EXPECT_NE(theirs, "");
    EXPECT_EQ(mine, theirs);
    EXPECT_NE(mine.find(".example.org"), std::string::npos);
}
