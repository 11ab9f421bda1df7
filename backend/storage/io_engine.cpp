#include "backend/storage/io_engine.hpp"

#include <fcntl.h>

#include "backend/storage/blocking_io.hpp"

namespace pvsim::backend::storage {
namespace {

// Whether `fd` reads and writes through the page cache: not O_DIRECT, where
// RWF_NOWAIT would still wait for the device.
bool through_page_cache(int fd) noexcept {
    const int flags = fd >= 0 ? ::fcntl(fd, F_GETFL) : -1;
    return flags >= 0 && (flags & O_DIRECT) == 0;
}

}  // namespace

IoEngine::IoEngine(IoTarget target, unsigned queue_depth)
    : target_(target),
      requests_(queue_depth),
      read_nowait_(through_page_cache(target.fd)),
      write_nowait_(read_nowait_) {}

void IoEngine::run_now(std::uint32_t index) {
    ready_.emplace_back(index, run_blocking(target(), requests_[index]));
}

bool IoEngine::served_without_waiting(std::uint32_t index) {
    IoRequest& request = requests_[index];
    if (!request.is_transfer()) {
        return false;
    }
    bool& worth_trying = request.op == IoOp::read ? read_nowait_ : write_nowait_;
    if (!worth_trying) {
        return false;
    }
    bool unsupported = false;
    if (const auto final = transfer_nowait(target_.fd, request, unsupported)) {
        ready_.emplace_back(index, *final);
        return true;
    }
    worth_trying = !unsupported;
    return false;
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
