#include "base/pool.hpp"

#include <array>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <new>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#define NODUS_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define NODUS_ASAN 1
#endif
#endif

namespace nodus::detail {

namespace {

// Size classes: 16..256 in steps of 16, then 320..1024 in steps of 64.
constexpr std::size_t class_count = 16 + 12;
constexpr std::size_t chunk_bytes = 64 * 1024;

constexpr std::size_t class_size(std::size_t c) noexcept { return c < 16 ? (c + 1) * 16 : 256 + (c - 15) * 64; }
constexpr std::size_t class_of(std::size_t bytes) noexcept {
    if (bytes <= 256) return bytes == 0 ? 0 : (bytes - 1) / 16;
    return 16 + (bytes - 257) / 64;
}
static_assert(class_size(class_of(1024)) == 1024);
static_assert(class_size(class_of(257)) == 320);
static_assert(class_size(class_of(256)) == 256);

constexpr std::size_t batch_of(std::size_t c) noexcept {
    std::size_t n = 8192 / class_size(c);
    return n < 8 ? 8 : n;
}

struct free_obj {
    free_obj* next;
};

struct batch {
    free_obj* head;
    std::uint32_t count;
};

struct depot {
    std::mutex mutex;
    std::vector<batch> batches;
    // Carving position in the current fresh chunk.
    char* fresh = nullptr;
    std::size_t fresh_left = 0;
};

std::atomic<std::size_t> reserved{0};

// Two arenas that never share memory: general objects, and type-stable blocks (process
// control blocks), which must only ever be reused for objects of the same type.
constexpr std::size_t arena_count = 2;
[[maybe_unused]] constexpr std::size_t general = 0;  // unused under ASan (pooling bypassed)
constexpr std::size_t stable = 1;

std::array<depot, class_count>& depots(std::size_t arena) {
    static auto* d = new std::array<std::array<depot, class_count>, arena_count>();  // never destroyed
    return (*d)[arena];
}

// Takes a batch from the depot or carves fresh memory.
batch refill(std::size_t arena, std::size_t c) {
    depot& d = depots(arena)[c];
    std::lock_guard lock(d.mutex);
    if (!d.batches.empty()) {
        batch b = d.batches.back();
        d.batches.pop_back();
        return b;
    }
    std::size_t size = class_size(c);
    std::size_t n = batch_of(c);
    if (d.fresh_left < size * n) {
        std::size_t bytes = chunk_bytes > size * n ? chunk_bytes : size * n;
        d.fresh = static_cast<char*>(::operator new(bytes));
        d.fresh_left = bytes;
        reserved.fetch_add(bytes, std::memory_order_relaxed);
    }
    free_obj* head = nullptr;
    for (std::size_t i = 0; i < n; ++i) {
        auto* o = reinterpret_cast<free_obj*>(d.fresh + (n - 1 - i) * size);
        o->next = head;
        head = o;
    }
    d.fresh += size * n;
    d.fresh_left -= size * n;
    return {head, static_cast<std::uint32_t>(n)};
}

void give_batch(std::size_t arena, std::size_t c, batch b) {
    if (!b.head) return;
    depot& d = depots(arena)[c];
    std::lock_guard lock(d.mutex);
    d.batches.push_back(b);
}

// Per thread: the free lists (trivial, so that reaching them costs no TLS guard check on the
// fast path), and a reaper registered on first use that returns them when the thread exits.
struct thread_cache {
    std::array<std::array<batch, class_count>, arena_count> lists;
    bool registered;
    bool dead;  // the thread is exiting: go straight to the depots
};
thread_local thread_cache cache;  // zero-initialized

struct thread_reaper {
    ~thread_reaper() {
        cache.dead = true;
        for (std::size_t a = 0; a < arena_count; ++a)
            for (std::size_t c = 0; c < class_count; ++c) {
                give_batch(a, c, cache.lists[a][c]);
                cache.lists[a][c] = {};
            }
    }
};

__attribute__((noinline)) void register_reaper() {
    thread_local thread_reaper reaper;
    (void)reaper;
    cache.registered = true;
}

void* engine_alloc(std::size_t arena, std::size_t bytes) {
    std::size_t c = class_of(bytes);
    if (cache.dead) {  // during this thread's exit: take one object, return the rest
        batch b = refill(arena, c);
        free_obj* o = b.head;
        give_batch(arena, c, {o->next, b.count - 1});
        return o;
    }
    batch& l = cache.lists[arena][c];
    if (!l.head) {
        if (!cache.registered) register_reaper();
        l = refill(arena, c);
    }
    free_obj* o = l.head;
    l.head = o->next;
    --l.count;
    return o;
}

void engine_free(std::size_t arena, void* p, std::size_t bytes) noexcept {
    std::size_t c = class_of(bytes);
    auto* o = static_cast<free_obj*>(p);
    if (cache.dead) {
        o->next = nullptr;
        give_batch(arena, c, {o, 1});
        return;
    }
    if (!cache.registered) register_reaper();
    batch& l = cache.lists[arena][c];
    o->next = l.head;
    l.head = o;
    std::size_t n = batch_of(c);
    if (++l.count >= 2 * n) {
        // Move one batch to the depot so that a consumer thread does not hoard memory.
        free_obj* head = l.head;
        free_obj* cut = head;
        for (std::size_t i = 1; i < n; ++i) cut = cut->next;
        l.head = cut->next;
        cut->next = nullptr;
        l.count -= static_cast<std::uint32_t>(n);
        give_batch(arena, c, {head, static_cast<std::uint32_t>(n)});
    }
}

}  // namespace

void* pool_alloc(std::size_t bytes) {
#ifdef NODUS_ASAN
    return ::operator new(bytes);
#else
    if (bytes > pool_max_size) return ::operator new(bytes);
    return engine_alloc(general, bytes);
#endif
}

void pool_free(void* p, std::size_t bytes) noexcept {
#ifdef NODUS_ASAN
    ::operator delete(p, bytes);
#else
    if (bytes > pool_max_size) {
        ::operator delete(p, bytes);
        return;
    }
    engine_free(general, p, bytes);
#endif
}

void* type_stable_alloc(std::size_t bytes) {
    if (bytes > pool_max_size) throw std::bad_alloc();
    return engine_alloc(stable, bytes);
}
void type_stable_free(void* p, std::size_t bytes) noexcept { engine_free(stable, p, bytes); }

pool_stats pool_statistics() noexcept { return {reserved.load(std::memory_order_relaxed)}; }

}  // namespace nodus::detail
