// Erlang's three exception classes as C++ exceptions. Inside a process:
//   exit(Reason)   -> throw exit_exception(reason)    (process ends with Reason)
//   error(Reason)  -> throw error_exception(reason)   (process ends with {Reason, Stack})
//   throw(Value)   -> throw throw_exception(value)    (uncaught: {{nocatch, Value}, Stack})
// Any other C++ exception escaping a process body ends it with
// {{cpp_exception, <<"what()">>}, []}. C++ has no Erlang stack trace; the stack is [].
#pragma once

#include <exception>
#include <string>

#include "nodus/term/term.hpp"

namespace nodus {

enum class exception_class : std::uint8_t { error, exit, throw_ };

class erlang_exception : public std::exception {
public:
    erlang_exception(exception_class c, term reason) : class_(c), reason_(std::move(reason)) {}
    exception_class kind() const noexcept { return class_; }
    const term& reason() const noexcept { return reason_; }
    const char* what() const noexcept override;
    // The exit reason of a process that does not catch this exception.
    term exit_reason() const;

private:
    exception_class class_;
    term reason_;
    mutable std::string what_;
};

class exit_exception : public erlang_exception {
public:
    explicit exit_exception(term reason) : erlang_exception(exception_class::exit, std::move(reason)) {}
};
class error_exception : public erlang_exception {
public:
    explicit error_exception(term reason) : erlang_exception(exception_class::error, std::move(reason)) {}
};
class throw_exception : public erlang_exception {
public:
    explicit throw_exception(term value) : erlang_exception(exception_class::throw_, std::move(value)) {}
};

// The exit reason for any exception escaping a process body.
term exit_reason_of(std::exception_ptr e);

}  // namespace nodus
