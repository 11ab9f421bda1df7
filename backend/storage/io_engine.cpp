#include "backend/storage/io_engine.hpp"

#include "backend/storage/blocking_io.hpp"

namespace pvsim::backend::storage {

void IoEngine::run_now(std::uint32_t index) {
    ready_.emplace_back(index, run_blocking(target(), requests_[index]));
}

std::size_t IoEngine::take_ready(std::span<IoCompletion> out, std::size_t count) noexcept {
    while (count < out.size() && !ready_.empty()) {
        out[count++] = complete(ready_.front().first, ready_.front().second);
        ready_.pop_front();
    }
    return count;
}

bool IoEngine::submitted(std::optional<std::uint32_t> index) {
    if (!index) {
        return false;
    }
    try {
        prepare(*index);
    } catch (...) {
        requests_.release(*index);
        throw;
    }
    return true;
}

bool IoEngine::submit_read(std::uint64_t tag, std::uint64_t offset, std::span<const iovec> iov) {
    return submitted(requests_.add_transfer(IoOp::read, tag, offset, iov));
}

bool IoEngine::submit_write(std::uint64_t tag, std::uint64_t offset, std::span<const iovec> iov) {
    return submitted(requests_.add_transfer(IoOp::write, tag, offset, iov));
}

bool IoEngine::submit_flush(std::uint64_t tag) {
    return submitted(requests_.add_flush(tag));
}

bool IoEngine::submit_discard(std::uint64_t tag, std::uint64_t offset, std::uint64_t length) {
    return submitted(requests_.add_range(IoOp::discard, tag, offset, length, false));
}

bool IoEngine::submit_write_zeroes(std::uint64_t tag, std::uint64_t offset, std::uint64_t length,
                                   bool may_unmap) {
    return submitted(requests_.add_range(IoOp::write_zeroes, tag, offset, length, may_unmap));
}

}  // namespace pvsim::backend::storage
