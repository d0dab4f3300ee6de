// Big-endian byte reader and writer used by every wire codec.
// The reader never reads past its span: each accessor checks and reports failure.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace nodus {

using byte_span = std::span<const std::uint8_t>;

inline byte_span as_bytes(std::string_view s) noexcept {
    return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}
inline std::string_view as_chars(byte_span b) noexcept {
    return {reinterpret_cast<const char*>(b.data()), b.size()};
}

// Appends big-endian fields to a growable buffer. Grows geometrically; never shrinks.
class byte_writer {
public:
    byte_writer() = default;
    explicit byte_writer(std::size_t reserve) { buf_.reserve(reserve); }

    void u8(std::uint8_t v) { buf_.push_back(v); }
    void u16(std::uint16_t v) {
        std::uint8_t* p = grow(2);
        p[0] = static_cast<std::uint8_t>(v >> 8);
        p[1] = static_cast<std::uint8_t>(v);
    }
    void u32(std::uint32_t v) {
        std::uint8_t* p = grow(4);
        put32(p, v);
    }
    void u64(std::uint64_t v) {
        std::uint8_t* p = grow(8);
        put32(p, static_cast<std::uint32_t>(v >> 32));
        put32(p + 4, static_cast<std::uint32_t>(v));
    }
    void bytes(const void* data, std::size_t n) {
        if (n == 0) return;
        std::memcpy(grow(n), data, n);
    }
    void bytes(byte_span b) { bytes(b.data(), b.size()); }
    void text(std::string_view s) { bytes(s.data(), s.size()); }

    // Reserve n bytes at the end and return a pointer to them (valid until the next append).
    std::uint8_t* grow(std::size_t n) {
        std::size_t old = buf_.size();
        buf_.resize(old + n);
        return buf_.data() + old;
    }
    void patch_u32(std::size_t at, std::uint32_t v) { put32(buf_.data() + at, v); }

    std::size_t size() const noexcept { return buf_.size(); }
    const std::uint8_t* data() const noexcept { return buf_.data(); }
    byte_span view() const noexcept { return {buf_.data(), buf_.size()}; }
    std::vector<std::uint8_t>& buffer() noexcept { return buf_; }
    std::vector<std::uint8_t> take() noexcept { return std::move(buf_); }
    void clear() noexcept { buf_.clear(); }
    void reserve(std::size_t n) { buf_.reserve(n); }

    static void put32(std::uint8_t* p, std::uint32_t v) noexcept {
        p[0] = static_cast<std::uint8_t>(v >> 24);
        p[1] = static_cast<std::uint8_t>(v >> 16);
        p[2] = static_cast<std::uint8_t>(v >> 8);
        p[3] = static_cast<std::uint8_t>(v);
    }

private:
    std::vector<std::uint8_t> buf_;
};

// Reads big-endian fields from a span. Accessors return false when fewer bytes remain than asked.
class byte_reader {
public:
    explicit byte_reader(byte_span data) noexcept : data_(data) {}

    std::size_t offset() const noexcept { return pos_; }
    std::size_t remaining() const noexcept { return data_.size() - pos_; }
    bool at_end() const noexcept { return pos_ == data_.size(); }
    byte_span rest() const noexcept { return data_.subspan(pos_); }
    byte_span whole() const noexcept { return data_; }

    bool u8(std::uint8_t& v) noexcept {
        if (remaining() < 1) return false;
        v = data_[pos_++];
        return true;
    }
    bool u16(std::uint16_t& v) noexcept {
        if (remaining() < 2) return false;
        v = static_cast<std::uint16_t>((data_[pos_] << 8) | data_[pos_ + 1]);
        pos_ += 2;
        return true;
    }
    bool u32(std::uint32_t& v) noexcept {
        if (remaining() < 4) return false;
        v = get32(data_.data() + pos_);
        pos_ += 4;
        return true;
    }
    bool u64(std::uint64_t& v) noexcept {
        if (remaining() < 8) return false;
        v = (std::uint64_t{get32(data_.data() + pos_)} << 32) | get32(data_.data() + pos_ + 4);
        pos_ += 8;
        return true;
    }
    bool bytes(std::size_t n, byte_span& out) noexcept {
        if (remaining() < n) return false;
        out = data_.subspan(pos_, n);
        pos_ += n;
        return true;
    }
    bool skip(std::size_t n) noexcept {
        if (remaining() < n) return false;
        pos_ += n;
        return true;
    }

    static std::uint32_t get32(const std::uint8_t* p) noexcept {
        return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | p[3];
    }
    static std::uint16_t get16(const std::uint8_t* p) noexcept {
        return static_cast<std::uint16_t>((p[0] << 8) | p[1]);
    }

private:
    byte_span data_;
    std::size_t pos_ = 0;
};

}  // namespace nodus
