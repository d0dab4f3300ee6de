// Patterns for selective receive, in the spirit of Erlang's:
//
//     var<pid> from; var<std::int64_t> n;
//     co_await receive(pat::tuple("ping"_a, from, n));     // {ping, From, N} when is_integer(N)
//     send(*from, tuple("pong"_a, *n));
//
// A pattern is a term (matches =:=), an atom or number (same), pat::_ (anything), a var<T>
// (matches a value convertible to T and binds it), pat::tuple/list/cons of patterns, or any
// callable bool(const term&). Bindings are meaningful only after a successful match.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <functional>
#include <utility>

#include "nodus/term/term.hpp"

namespace nodus {

// A pattern variable. var<term> binds anything; other T constrain the type.
template <class T>
class var {
public:
    var() = default;
    const T& operator*() const { return *value_; }
    const T* operator->() const { return &*value_; }
    bool bound() const noexcept { return value_.has_value(); }
    const std::optional<T>& get() const noexcept { return value_; }

    bool match(const term& t) const {
        if constexpr (std::is_same_v<T, term>) {
            value_ = t;
            return true;
        } else if constexpr (std::is_same_v<T, std::int64_t>) {
            auto v = t.to_int64();
            if (v) value_ = *v;
            return v.has_value();
        } else if constexpr (std::is_same_v<T, double>) {
            if (!t.is_float()) return false;
            value_ = t.float_value();
            return true;
        } else if constexpr (std::is_same_v<T, atom>) {
            if (!t.is_atom()) return false;
            value_ = t.as_atom();
            return true;
        } else if constexpr (std::is_same_v<T, pid>) {
            if (!t.is_pid()) return false;
            value_ = t.as_pid();
            return true;
        } else if constexpr (std::is_same_v<T, reference>) {
            if (!t.is_reference()) return false;
            value_ = t.as_reference();
            return true;
        } else if constexpr (std::is_same_v<T, std::string>) {
            if (!t.is_binary()) return false;
            value_ = std::string(t.as_string_view());
            return true;
        } else {
            static_assert(sizeof(T) == 0, "var<T>: T must be term, int64_t, double, atom, pid, reference or string");
        }
    }

private:
    mutable std::optional<T> value_;
};

namespace pat {

struct any_t {
    bool match(const term&) const noexcept { return true; }
};
inline constexpr any_t _{};

namespace detail {

template <class T>
struct is_ref_wrapper : std::false_type {};
template <class T>
struct is_ref_wrapper<std::reference_wrapper<T>> : std::true_type {};

template <class P>
bool match_one(const term& t, const P& p) {
    using D = std::decay_t<P>;
    if constexpr (is_ref_wrapper<D>::value) {
        return p.get().match(t);
    } else if constexpr (std::is_same_v<D, term>) {
        return t == p;
    } else if constexpr (std::is_same_v<D, atom>) {
        return t.is_atom(p);
    } else if constexpr (std::is_same_v<D, pid> || std::is_same_v<D, reference> || std::is_same_v<D, port>) {
        return t == p.as_term();
    } else if constexpr (std::is_integral_v<D> || std::is_floating_point_v<D>) {
        return t == term(p);
    } else if constexpr (requires { p.match(t); }) {
        return p.match(t);
    } else if constexpr (std::is_invocable_r_v<bool, const D&, const term&>) {
        return p(t);
    } else {
        static_assert(sizeof(D) == 0, "not a pattern");
    }
}

}  // namespace detail

template <class... P>
struct tuple_pattern {
    std::tuple<P...> parts;
    bool match(const term& t) const {
        if (!t.is_tuple(sizeof...(P))) return false;
        return std::apply([&](const auto&... p) { return match_parts(t, std::index_sequence_for<P...>{}, p...); },
                          parts);
    }

private:
    template <std::size_t... I, class... Q>
    static bool match_parts(const term& t, std::index_sequence<I...>, const Q&... q) {
        return (detail::match_one(t[I], q) && ...);
    }
};

template <class... P>
struct list_pattern {
    std::tuple<P...> parts;
    bool match(const term& t) const {
        const term* cur = &t;
        bool ok = std::apply([&](const auto&... p) { return (step(cur, p) && ...); }, parts);
        return ok && cur->is_nil();
    }

private:
    template <class Q>
    static bool step(const term*& cur, const Q& q) {
        if (!cur->is_cons() || !detail::match_one(cur->head(), q)) return false;
        cur = &cur->tail();
        return true;
    }
};

template <class H, class T>
struct cons_pattern {
    H head;
    T tail;
    bool match(const term& t) const {
        return t.is_cons() && detail::match_one(t.head(), head) && detail::match_one(t.tail(), tail);
    }
};

// Variables are captured by reference (std::reference_wrapper-like), everything else by value.
template <class P>
auto keep(P&& p) {
    using D = std::decay_t<P>;
    if constexpr (requires(const D& d, const term& t) { d.get(); d.match(t); }) {
        return std::cref(p);
    } else {
        return D(std::forward<P>(p));
    }
}

template <class... P>
auto tuple(P&&... p) {
    return tuple_pattern<decltype(keep(std::forward<P>(p)))...>{{keep(std::forward<P>(p))...}};
}
template <class... P>
auto list(P&&... p) {
    return list_pattern<decltype(keep(std::forward<P>(p)))...>{{keep(std::forward<P>(p))...}};
}
template <class H, class T>
auto cons(H&& h, T&& t) {
    return cons_pattern<decltype(keep(std::forward<H>(h))), decltype(keep(std::forward<T>(t)))>{
        keep(std::forward<H>(h)), keep(std::forward<T>(t))};
}

// Type tests: pat::is_pid, pat::is_atom, ...
inline constexpr auto is_atom = [](const term& t) { return t.is_atom(); };
inline constexpr auto is_integer = [](const term& t) { return t.is_integer(); };
inline constexpr auto is_pid = [](const term& t) { return t.is_pid(); };
inline constexpr auto is_reference = [](const term& t) { return t.is_reference(); };
inline constexpr auto is_tuple = [](const term& t) { return t.is_tuple(); };
inline constexpr auto is_binary = [](const term& t) { return t.is_binary(); };

}  // namespace pat

}  // namespace nodus
