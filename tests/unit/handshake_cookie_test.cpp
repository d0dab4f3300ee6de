// Cookies: the file rules of OTP 25's auth.erl (each verified with erl 25: see
// docs/protocols/handshake.md), the default-cookie search, and the thread-safe store.
#include "nodus/dist/cookie.hpp"

#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

using namespace nodus;
using namespace nodus::dist;
namespace fs = std::filesystem;

namespace {

// A fresh directory, removed at the end of the test.
struct temp_dir {
    fs::path path;
    temp_dir() {
        static int n = 0;
        path = fs::temp_directory_path() /
               ("nodus_cookie_" + std::to_string(::getpid()) + "_" + std::to_string(n++));
        fs::remove_all(path);
        fs::create_directories(path);
    }
    ~temp_dir() {
        std::error_code ec;
        fs::permissions(path, fs::perms::owner_all, ec);
        fs::remove_all(path, ec);
    }
};

void write_file(const fs::path& p, std::string_view text, mode_t mode) {
    std::ofstream(p, std::ios::binary) << text;
    ::chmod(p.c_str(), mode);
}

// fread rather than istreambuf_iterator, which trips g++ 12's -Wnull-dereference at -O3.
std::string slurp(const fs::path& p) {
    std::string text;
    if (std::FILE* f = std::fopen(p.c_str(), "rb")) {
        char buf[256];
        std::size_t n;
        while ((n = std::fread(buf, 1, sizeof buf, f)) > 0)
            text.append(buf, n);
        std::fclose(f);
    }
    return text;
}

// "prefix" + number, appended: "c" + std::to_string(i) trips g++ 12's -Wrestrict at -O3.
std::string numbered(char prefix, int i) {
    std::string s(1, prefix);
    s += std::to_string(i);
    return s;
}

mode_t mode_of(const fs::path& p) {
    struct stat st {};
    ::stat(p.c_str(), &st);
    return st.st_mode & 0777;
}

}  // namespace

TEST(cookie_file, parse_like_auth_check_cookie) {
    EXPECT_EQ(*parse_cookie("ABCDEFGHIJKLMNOPQRST"), "ABCDEFGHIJKLMNOPQRST");
    EXPECT_EQ(*parse_cookie("abc def \n \r\n"), "abc def ");  // verified with erl: 'abc def '
    EXPECT_EQ(*parse_cookie("abc\n"), "abc");
    EXPECT_EQ(*parse_cookie("~!{}"), "~!{}");
    EXPECT_EQ(parse_cookie("abc\ndef").error().error, cookie_error::bad_characters);
    EXPECT_EQ(parse_cookie("abc\n\tx").error().error, cookie_error::bad_characters);
    EXPECT_EQ(parse_cookie("ab\x80").error().message, "Bad characters in cookie");
    EXPECT_EQ(parse_cookie("").error().error, cookie_error::too_short);
    EXPECT_EQ(parse_cookie("\n").error().message, "Too short cookie string");
}

TEST(cookie_file, random_cookie_is_20_uppercase_letters) {
    std::string a = random_cookie(), b = random_cookie();
    EXPECT_EQ(a.size(), 20u);
    EXPECT_TRUE(std::all_of(a.begin(), a.end(), [](char c) { return c >= 'A' && c <= 'Z'; }));
    EXPECT_NE(a, b);
}

TEST(cookie_file, read_checks_type_and_permissions) {
    temp_dir d;
    auto p = d.path / ".erlang.cookie";
    write_file(p, "SECRET\n", 0400);
    EXPECT_EQ(*read_cookie_file(p), "SECRET");
    ::chmod(p.c_str(), 0600);
    EXPECT_EQ(*read_cookie_file(p), "SECRET");
    ::chmod(p.c_str(), 0644);
    auto r = read_cookie_file(p);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().error, cookie_error::bad_permissions);
    EXPECT_EQ(r.error().message, "Cookie file " + p.string() + " must be accessible by owner only");
    ::chmod(p.c_str(), 0440);
    EXPECT_EQ(read_cookie_file(p).error().error, cookie_error::bad_permissions);
    EXPECT_EQ(read_cookie_file(d.path).error().error, cookie_error::not_regular);
    EXPECT_EQ(read_cookie_file(d.path / "missing").error().error, cookie_error::read_failed);
}

TEST(cookie_file, created_with_mode_0400_and_midnight_times) {
    temp_dir d;
    auto p = d.path / ".erlang.cookie";
    auto c = create_cookie_file(p);
    ASSERT_TRUE(c) << c.error().message;
    EXPECT_EQ(c->size(), 20u);
    EXPECT_EQ(mode_of(p), 0400u);
    EXPECT_EQ(slurp(p), *c);  // no newline, as erl writes it
    struct stat st {};
    ::stat(p.c_str(), &st);
    std::tm local{};
    ::localtime_r(&st.st_mtime, &local);
    EXPECT_EQ(local.tm_hour * 3600 + local.tm_min * 60 + local.tm_sec, 0);
    EXPECT_EQ(*read_cookie_file(p), *c);
    // Never overwrites.
    EXPECT_EQ(create_cookie_file(p).error().error, cookie_error::create_failed);
}

TEST(cookie_default, home_file_then_xdg_then_create) {
    temp_dir d;
    cookie_locations where{d.path.string(), std::nullopt};
    // Nothing there: created in $HOME.
    auto created = load_default_cookie(where);
    ASSERT_TRUE(created) << created.error().message;
    EXPECT_TRUE(fs::exists(d.path / ".erlang.cookie"));
    EXPECT_EQ(*load_default_cookie(where), *created);  // read back the second time
    // A wrongly protected home file is an error, as with erl.
    ::chmod((d.path / ".erlang.cookie").c_str(), 0644);
    EXPECT_EQ(load_default_cookie(where).error().error, cookie_error::bad_permissions);
    // No home file: the XDG one ($HOME/.config/erlang/.erlang.cookie by default).
    fs::remove(d.path / ".erlang.cookie");
    fs::create_directories(d.path / ".config" / "erlang");
    write_file(d.path / ".config" / "erlang" / ".erlang.cookie", "xdgcookie", 0600);
    EXPECT_EQ(*load_default_cookie(where), "xdgcookie");
    EXPECT_FALSE(fs::exists(d.path / ".erlang.cookie"));
    // $XDG_CONFIG_HOME moves it.
    temp_dir x;
    fs::create_directories(x.path / "erlang");
    write_file(x.path / "erlang" / ".erlang.cookie", "elsewhere", 0600);
    EXPECT_EQ(*load_default_cookie(cookie_locations{d.path.string(), x.path.string()}), "elsewhere");
}

TEST(cookie_default, without_home) {
    temp_dir x;
    fs::create_directories(x.path / "erlang");
    auto c = load_default_cookie(cookie_locations{std::nullopt, x.path.string()});
    ASSERT_TRUE(c) << c.error().message;
    EXPECT_EQ(mode_of(x.path / "erlang" / ".erlang.cookie"), 0400u);
    EXPECT_EQ(load_default_cookie(cookie_locations{}).error().error, cookie_error::no_home);
}

TEST(cookie_store, default_and_per_node) {
    cookie_store s("default");
    atom a("alice_cookie_test@host"), b("bob_cookie_test@host");
    EXPECT_EQ(s.get_cookie(), "default");
    EXPECT_EQ(s.get_cookie(a), "default");
    s.set_cookie(a, "for_alice");
    EXPECT_EQ(s.get_cookie(a), "for_alice");
    EXPECT_EQ(s.get_cookie(b), "default");
    EXPECT_EQ(s.cookie_for("alice_cookie_test@host"), "for_alice");
    // A name that is no atom yet has no override, and asking does not create the atom.
    EXPECT_EQ(s.cookie_for("nobody_cookie_test_41@host"), "default");
    EXPECT_FALSE(atom::existing("nobody_cookie_test_41@host"));
    s.set_cookie("changed");
    EXPECT_EQ(s.get_cookie(b), "changed");
    EXPECT_EQ(s.get_cookie(a), "for_alice");
    s.clear_cookie(a);
    EXPECT_EQ(s.get_cookie(a), "changed");
}

TEST(cookie_store, concurrent_readers_and_writers) {
    cookie_store s("c0");
    atom a("concurrent_cookie_test@host");
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < 2000; ++i) {
                if (t % 2) {
                    s.set_cookie(a, numbered('c', i));
                    s.set_cookie(numbered('d', i));
                } else {
                    std::string v = s.get_cookie(a);
                    EXPECT_FALSE(v.empty());
                    (void)s.cookie_for("concurrent_cookie_test@host");
                }
            }
        });
    }
    for (auto& th : threads)
        th.join();
    EXPECT_EQ(s.get_cookie(a).substr(0, 1), "c");
}
