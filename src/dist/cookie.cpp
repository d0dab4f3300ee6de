// Cookies: the ~/.erlang.cookie rules of OTP 25 (kernel auth.erl), and the cookie store.
#include "nodus/dist/cookie.hpp"

#include <fcntl.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <mutex>
#include <random>

namespace nodus::dist {

std::string_view to_string(cookie_error e) noexcept {
    switch (e) {
        case cookie_error::no_home:
            return "no_home";
        case cookie_error::not_regular:
            return "not_regular";
        case cookie_error::bad_permissions:
            return "bad_permissions";
        case cookie_error::read_failed:
            return "read_failed";
        case cookie_error::bad_characters:
            return "bad_characters";
        case cookie_error::too_short:
            return "too_short";
        case cookie_error::create_failed:
            return "create_failed";
    }
    return "unknown";
}

namespace {

nodus::unexpected<cookie_failure> failure(cookie_error e, std::string message) {
    return nodus::unexpected(cookie_failure{e, std::move(message)});
}

std::string errno_text(int err) {
    return std::strerror(err);
}

std::string_view file_type(mode_t mode) {
    if (S_ISDIR(mode)) return "directory";
    if (S_ISCHR(mode) || S_ISBLK(mode)) return "device";
    if (S_ISLNK(mode)) return "symlink";
    return "other";
}

// Reads path; errno (ENOENT included) as the error.
result<std::string, int> slurp(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return nodus::unexpected(errno);
    std::string data;
    char buf[4096];
    while (true) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n > 0) {
            data.append(buf, static_cast<std::size_t>(n));
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        int err = n < 0 ? errno : 0;
        ::close(fd);
        if (err) return nodus::unexpected(err);
        return data;
    }
}

// read_cookie/1 of auth.erl, with "not found" kept apart so the caller can fall back.
struct read_outcome {
    bool missing = false;
    result<std::string, cookie_failure> cookie = std::string();
};

read_outcome read_or_missing(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
        if (errno == ENOENT) return {true, std::string()};
        return {false,
                failure(cookie_error::read_failed, "Error when reading " + path + ": " + errno_text(errno))};
    }
    if (!S_ISREG(st.st_mode))
        return {false, failure(cookie_error::not_regular,
                               "Cookie file " + path + " is of type " + std::string(file_type(st.st_mode)))};
    if (st.st_mode & 077)
        return {false, failure(cookie_error::bad_permissions,
                               "Cookie file " + path + " must be accessible by owner only")};
    auto data = slurp(path);
    if (!data) {
        if (data.error() == ENOENT) return {true, std::string()};
        return {false, failure(cookie_error::read_failed,
                               "Error when reading " + path + ": " + errno_text(data.error()))};
    }
    return {false, parse_cookie(*data)};
}

}  // namespace

result<std::string, cookie_failure> parse_cookie(std::string_view contents) {
    std::size_t n = 0;
    while (n < contents.size() && contents[n] >= ' ' && contents[n] <= '~')
        ++n;
    for (std::size_t i = n; i < contents.size(); ++i) {
        char c = contents[i];
        if (c != '\n' && c != '\r' && c != ' ')
            return failure(cookie_error::bad_characters, "Bad characters in cookie");
    }
    if (n == 0) return failure(cookie_error::too_short, "Too short cookie string");
    return std::string(contents.substr(0, n));
}

result<std::string, cookie_failure> read_cookie_file(const std::string& path) {
    read_outcome r = read_or_missing(path);
    if (r.missing)
        return failure(cookie_error::read_failed, "Error when reading " + path + ": " + errno_text(ENOENT));
    return std::move(r.cookie);
}

std::string random_cookie() {
    std::string cookie;
    std::random_device fallback;
    while (cookie.size() < 20) {
        std::uint8_t b[32];
        if (RAND_bytes(b, sizeof b) != 1) {
            for (auto& x : b)
                x = static_cast<std::uint8_t>(fallback());
        }
        for (std::uint8_t x : b) {
            // 234 = 9 * 26: reject the rest so every letter is equally likely.
            if (x < 234 && cookie.size() < 20) cookie.push_back(static_cast<char>('A' + x % 26));
        }
    }
    return cookie;
}

result<std::string, cookie_failure> create_cookie_file(const std::string& path) {
    std::string cookie = random_cookie();
    // 0400 at creation: the descriptor we get may still write it, nobody else can ever read it.
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0400);
    if (fd < 0)
        return failure(cookie_error::create_failed,
                       "Failed to create cookie file '" + path + "': " + errno_text(errno));
    std::size_t off = 0;
    while (off < cookie.size()) {
        ssize_t n = ::write(fd, cookie.data() + off, cookie.size() - off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            int err = n < 0 ? errno : EIO;
            ::close(fd);
            ::unlink(path.c_str());
            return failure(cookie_error::create_failed,
                           "Failed to write to cookie file '" + path + "': " + errno_text(err));
        }
        off += static_cast<std::size_t>(n);
    }
    // The file's times say when the cookie was made (and so hint at how it was seeded, in OTP);
    // OTP rounds them down to midnight. We keep the habit: it costs nothing.
    std::time_t now = std::time(nullptr);
    std::tm local{};
    if (::localtime_r(&now, &local)) {
        local.tm_hour = local.tm_min = local.tm_sec = 0;
        local.tm_isdst = -1;
        std::time_t midnight = std::mktime(&local);
        if (midnight != -1) {
            timespec ts[2] = {{midnight, 0}, {midnight, 0}};
            ::futimens(fd, ts);
        }
    }
    ::close(fd);
    return cookie;
}

cookie_locations cookie_locations::from_environment() {
    cookie_locations w;
    if (const char* h = std::getenv("HOME"); h && *h) w.home = h;
    if (const char* x = std::getenv("XDG_CONFIG_HOME"); x && *x) w.xdg_config = x;
    return w;
}

result<std::string, cookie_failure> load_default_cookie(const cookie_locations& where) {
    std::optional<std::string> xdg_dir = where.xdg_config;
    if (!xdg_dir && where.home) xdg_dir = *where.home + "/.config";
    std::optional<std::string> xdg_path;
    if (xdg_dir) xdg_path = *xdg_dir + "/erlang/.erlang.cookie";

    if (where.home) {
        std::string home_path = *where.home + "/.erlang.cookie";
        read_outcome home = read_or_missing(home_path);
        if (!home.missing) return std::move(home.cookie);
        read_outcome xdg = read_or_missing(*xdg_path);
        if (!xdg.missing) return std::move(xdg.cookie);
        auto created = create_cookie_file(home_path);
        if (created) return created;
        // Another process may have created it between our look and our O_EXCL create.
        if (read_outcome again = read_or_missing(home_path); !again.missing && again.cookie)
            return std::move(again.cookie);
        return created;
    }
    if (!xdg_path) return failure(cookie_error::no_home, "No home for cookie file");
    read_outcome xdg = read_or_missing(*xdg_path);
    if (!xdg.missing) {
        if (!xdg.cookie)
            return failure(cookie_error::no_home, "No home for cookie file");  // as auth.erl says
        return std::move(xdg.cookie);
    }
    return create_cookie_file(*xdg_path);
}

result<std::string, cookie_failure> load_default_cookie() {
    return load_default_cookie(cookie_locations::from_environment());
}

// ---- the store ----

cookie_store::cookie_store(std::string default_cookie) : default_(std::move(default_cookie)) {}

std::string cookie_store::get_cookie() const {
    std::shared_lock lock(mutex_);
    return default_;
}

std::string cookie_store::get_cookie(atom node) const {
    std::shared_lock lock(mutex_);
    auto it = per_node_.find(node);
    return it != per_node_.end() ? it->second : default_;
}

std::string cookie_store::cookie_for(std::string_view node) const {
    if (auto a = atom::existing(node)) return get_cookie(*a);
    return get_cookie();
}

void cookie_store::set_cookie(std::string cookie) {
    std::unique_lock lock(mutex_);
    default_ = std::move(cookie);
}

void cookie_store::set_cookie(atom node, std::string cookie) {
    std::unique_lock lock(mutex_);
    per_node_[node] = std::move(cookie);
}

void cookie_store::clear_cookie(atom node) {
    std::unique_lock lock(mutex_);
    per_node_.erase(node);
}

}  // namespace nodus::dist
