// Exported functions: C++ functions callable by name as Module:Function/Arity — from the shell
// (`M:F(Args)`), and by other nodes through remote spawn and rpc. Nothing else is callable from
// outside: C++ lambdas cannot cross a wire, so a peer can only name what was exported here.
//
//     rt.exports().add("math"_a, "square"_a, 1, [](std::vector<term> a) -> task<term> {
//         auto x = a[0].to_int64();
//         if (!x) error(term(atoms::badarg));
//         co_return term(*x * *x);
//     });
//
// A function runs in the calling process (or, for a remote spawn, in the new process): it may
// receive, send, spawn and co_await like any process code, and report failure by throwing
// error/exit/throw (nodus/runtime/errors.hpp), which callers see with Erlang's shapes.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "nodus/runtime/task.hpp"
#include "nodus/term/term.hpp"

namespace nodus {

using native_function = std::function<task<term>(std::vector<term> args)>;

struct export_key {
    atom module;
    atom function;
    unsigned arity;
    friend bool operator==(const export_key&, const export_key&) = default;
};

struct export_key_hash {
    std::size_t operator()(const export_key& k) const noexcept {
        return (std::size_t{k.module.index()} * 0x9E3779B97F4A7C15ull) ^ (std::size_t{k.function.index()} << 16) ^
               k.arity;
    }
};

// Thread-safe. One table per runtime (one per node): like the modules loaded in a BEAM node.
class export_table {
public:
    // Adds or replaces M:F/A.
    void add(atom module, atom function, unsigned arity, native_function f) {
        std::unique_lock l(mutex_);
        table_[{module, function, arity}] = std::make_shared<native_function>(std::move(f));
    }
    bool remove(atom module, atom function, unsigned arity) {
        std::unique_lock l(mutex_);
        return table_.erase({module, function, arity}) > 0;
    }
    // The function, kept alive for the caller even if it is replaced meanwhile.
    std::shared_ptr<const native_function> find(atom module, atom function, unsigned arity) const {
        std::shared_lock l(mutex_);
        auto it = table_.find({module, function, arity});
        return it == table_.end() ? nullptr : it->second;
    }
    bool module_loaded(atom module) const {
        std::shared_lock l(mutex_);
        for (auto& [k, v] : table_)
            if (k.module == module) return true;
        return false;
    }
    std::vector<export_key> list() const {
        std::shared_lock l(mutex_);
        std::vector<export_key> out;
        out.reserve(table_.size());
        for (auto& [k, v] : table_) out.push_back(k);
        return out;
    }

private:
    mutable std::shared_mutex mutex_;
    std::unordered_map<export_key, std::shared_ptr<native_function>, export_key_hash> table_;
};

}  // namespace nodus
