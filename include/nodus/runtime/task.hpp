// task<T>: the coroutine type of process bodies and of the functions they co_await.
// Lazy (starts when awaited or when the scheduler first runs the process), resumes its
// awaiter by symmetric transfer (no stack growth across co_await chains), frames come from
// the runtime's pool allocator.
//
// Write process bodies as plain functions or captureless lambdas taking parameters by value:
//     task<> echo(int n) { ... co_await receive(...); ... }
// A lambda with captures must not itself be a coroutine unless the runtime keeps the lambda
// alive (spawn() does; other callers must not).
#pragma once

#include <coroutine>
#include <cstddef>
#include <exception>
#include <type_traits>
#include <utility>
#include <variant>

namespace nodus {

namespace detail {
void* frame_alloc(std::size_t bytes);
void frame_free(void* p, std::size_t bytes) noexcept;

struct task_promise_base {
    std::coroutine_handle<> continuation{};
    std::exception_ptr error{};

    std::suspend_always initial_suspend() const noexcept { return {}; }
    struct final_awaiter {
        bool await_ready() const noexcept { return false; }
        template <class P>
        std::coroutine_handle<> await_suspend(std::coroutine_handle<P> h) const noexcept {
            auto next = h.promise().continuation;
            return next ? next : std::noop_coroutine();
        }
        void await_resume() const noexcept {}
    };
    final_awaiter final_suspend() const noexcept { return {}; }
    void unhandled_exception() noexcept { error = std::current_exception(); }

    static void* operator new(std::size_t n) { return frame_alloc(n); }
    static void operator delete(void* p, std::size_t n) noexcept { frame_free(p, n); }
};
}  // namespace detail

template <class T = void>
class [[nodiscard]] task {
public:
    struct promise_type : detail::task_promise_base {
        std::variant<std::monostate, T> value;
        task get_return_object() noexcept { return task(std::coroutine_handle<promise_type>::from_promise(*this)); }
        template <class U>
        void return_value(U&& v) {
            value.template emplace<1>(std::forward<U>(v));
        }
    };

    task() = default;
    task(task&& o) noexcept : h_(std::exchange(o.h_, {})) {}
    task& operator=(task&& o) noexcept {
        if (this != &o) {
            if (h_) h_.destroy();
            h_ = std::exchange(o.h_, {});
        }
        return *this;
    }
    ~task() {
        if (h_) h_.destroy();
    }

    auto operator co_await() && noexcept {
        struct awaiter {
            std::coroutine_handle<promise_type> h;
            bool await_ready() const noexcept { return !h || h.done(); }
            std::coroutine_handle<> await_suspend(std::coroutine_handle<> caller) noexcept {
                h.promise().continuation = caller;
                return h;
            }
            T await_resume() {
                if (h.promise().error) std::rethrow_exception(h.promise().error);
                return std::move(std::get<1>(h.promise().value));
            }
        };
        return awaiter{h_};
    }

    std::coroutine_handle<promise_type> handle() const noexcept { return h_; }
    std::coroutine_handle<promise_type> release() noexcept { return std::exchange(h_, {}); }

private:
    explicit task(std::coroutine_handle<promise_type> h) noexcept : h_(h) {}
    std::coroutine_handle<promise_type> h_{};
};

template <>
class [[nodiscard]] task<void> {
public:
    struct promise_type : detail::task_promise_base {
        task get_return_object() noexcept { return task(std::coroutine_handle<promise_type>::from_promise(*this)); }
        void return_void() noexcept {}
    };

    task() = default;
    task(task&& o) noexcept : h_(std::exchange(o.h_, {})) {}
    task& operator=(task&& o) noexcept {
        if (this != &o) {
            if (h_) h_.destroy();
            h_ = std::exchange(o.h_, {});
        }
        return *this;
    }
    ~task() {
        if (h_) h_.destroy();
    }

    auto operator co_await() && noexcept {
        struct awaiter {
            std::coroutine_handle<promise_type> h;
            bool await_ready() const noexcept { return !h || h.done(); }
            std::coroutine_handle<> await_suspend(std::coroutine_handle<> caller) noexcept {
                h.promise().continuation = caller;
                return h;
            }
            void await_resume() {
                if (h.promise().error) std::rethrow_exception(h.promise().error);
            }
        };
        return awaiter{h_};
    }

    std::coroutine_handle<promise_type> handle() const noexcept { return h_; }
    std::coroutine_handle<promise_type> release() noexcept { return std::exchange(h_, {}); }

private:
    explicit task(std::coroutine_handle<promise_type> h) noexcept : h_(h) {}
    std::coroutine_handle<promise_type> h_{};
};

}  // namespace nodus
