// A size-class allocator for the small, short-lived objects of the runtime: term boxes,
// signal nodes, coroutine frames, process control blocks.
//
// Each thread keeps a free list per size class; full batches move to a shared depot, so
// memory freed on one thread (a message consumed by its receiver) is reused by another (its
// sender) without locking per object. Memory is never returned to the system: fresh pages
// cost 1.5–4 µs each to fault in on this kind of machine, and reuse avoids it.
//
// Under AddressSanitizer pooling is bypassed (plain new/delete) so that use-after-free and
// leaks are still caught, except for type_stable_alloc, whose memory must stay readable.
#pragma once

#include <cstddef>

namespace nodus::detail {

inline constexpr std::size_t pool_max_size = 1024;

void* pool_alloc(std::size_t bytes);
void pool_free(void* p, std::size_t bytes) noexcept;

// Memory that is never unmapped, even under ASan: a stale pointer to a freed object may still
// be read (its reference count checked) and it will hold either the old object or a new one of
// the same type. Used for process control blocks, looked up concurrently with their exit.
void* type_stable_alloc(std::size_t bytes);
void type_stable_free(void* p, std::size_t bytes) noexcept;

struct pool_stats {
    std::size_t bytes_reserved;  // obtained from the system
};
pool_stats pool_statistics() noexcept;

}  // namespace nodus::detail
