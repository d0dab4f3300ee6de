// A worker's event source backed by an asio::io_context: the runtime polls it between
// processes and sleeps on it when idle, so socket handlers and the processes they wake share
// one thread. Internal to the distribution layer.
#pragma once

#include <asio.hpp>

#include "nodus/runtime/runtime.hpp"

namespace nodus::dist {

class asio_poller final : public worker_poller {
public:
    asio_poller() : guard_(asio::make_work_guard(ctx_)) {}

    asio::io_context& context() noexcept { return ctx_; }

    // A bounded batch: a socket that stays readable (a 64 MiB message streaming in) must not
    // keep the worker from running the processes its packets woke (head-of-line latency).
    void poll() override {
        run_batch();
        if (ctx_.stopped()) ctx_.restart();
    }
    void wait(std::chrono::nanoseconds timeout) override {
        if (timeout.count() < 0)
            ctx_.run_one();
        else
            ctx_.run_one_for(timeout);
        // Run some of whatever else became ready too: one wake-up, one batch.
        run_batch();
        if (ctx_.stopped()) ctx_.restart();
    }
    void wake() override {
        asio::post(ctx_, [] {});
    }
    void shutdown() {
        guard_.reset();
        ctx_.stop();
    }

private:
    static constexpr int batch = 32;
    // Stops early once a handler made a process runnable here: a reply should not wait behind
    // 32 reads of a bulk transfer (head-of-line latency).
    void run_batch() {
        for (int i = 0; i < batch && !runtime::worker_has_runnable() && ctx_.poll_one() > 0; ++i) {
        }
    }

    asio::io_context ctx_{1};
    asio::executor_work_guard<asio::io_context::executor_type> guard_;
};

}  // namespace nodus::dist
