// result<T, E>: a value or an error, for every boundary where input is not trusted.
// A small stand-in for C++23 std::expected (we build as C++20).
#pragma once

#include <cassert>
#include <type_traits>
#include <utility>
#include <variant>

namespace nodus {

template <class E>
struct unexpected {
    explicit unexpected(E e) : error(std::move(e)) {}
    E error;
};
template <class E>
unexpected(E) -> unexpected<E>;

template <class T, class E>
class [[nodiscard]] result {
public:
    using value_type = T;
    using error_type = E;

    template <class U = T, std::enable_if_t<std::is_constructible_v<T, U&&>, int> = 0>
    result(U&& value) : v_(std::in_place_index<0>, std::forward<U>(value)) {}  // NOLINT: implicit by design
    template <class G>
    result(unexpected<G> err) : v_(std::in_place_index<1>, std::move(err.error)) {}  // NOLINT

    bool has_value() const noexcept { return v_.index() == 0; }
    explicit operator bool() const noexcept { return has_value(); }

    T& value() & {
        assert(has_value());
        return std::get<0>(v_);
    }
    const T& value() const& {
        assert(has_value());
        return std::get<0>(v_);
    }
    T&& value() && {
        assert(has_value());
        return std::get<0>(std::move(v_));
    }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }
    T&& operator*() && { return std::move(*this).value(); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }

    const E& error() const& {
        assert(!has_value());
        return std::get<1>(v_);
    }
    E&& error() && {
        assert(!has_value());
        return std::get<1>(std::move(v_));
    }

    template <class U>
    T value_or(U&& fallback) const& {
        return has_value() ? value() : static_cast<T>(std::forward<U>(fallback));
    }

private:
    std::variant<T, E> v_;
};

template <class E>
class [[nodiscard]] result<void, E> {
public:
    result() = default;
    template <class G>
    result(unexpected<G> err) : err_(std::move(err.error)), ok_(false) {}  // NOLINT

    bool has_value() const noexcept { return ok_; }
    explicit operator bool() const noexcept { return ok_; }
    void value() const { assert(ok_); }
    const E& error() const& {
        assert(!ok_);
        return err_;
    }

private:
    E err_{};
    bool ok_ = true;
};

}  // namespace nodus
