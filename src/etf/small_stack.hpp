// Internal: the encoder's and decoder's explicit stack. Most terms nest a few levels deep: the
// first frames live inside the object (no allocation per encode or decode of a small tuple);
// deeper nesting moves to the heap.
#pragma once

#include <array>
#include <cstddef>
#include <vector>

namespace nodus::etf_impl {

template <class T, std::size_t Inline>
class small_stack {
public:
    bool empty() const noexcept { return size_ == 0; }
    std::size_t size() const noexcept { return size_; }
    T& back() noexcept { return size_ <= Inline ? inline_[size_ - 1] : heap_[size_ - Inline - 1]; }
    void push_back(const T& v) {
        if (size_ < Inline) {
            inline_[size_] = v;
        } else {
            heap_.push_back(v);
        }
        ++size_;
    }
    void pop_back() noexcept {
        if (size_ > Inline) heap_.pop_back();
        --size_;
    }

private:
    std::array<T, Inline> inline_;
    std::vector<T> heap_;
    std::size_t size_ = 0;
};

}  // namespace nodus::etf_impl
