// A BlockDevice over a plain in-memory disk, for the workload engine's tests.
// Like blkfront it completes requests on a thread of its own, so callbacks
// are asynchronous, and a callback may submit. It records what a test wants
// to assert (the order of I/Os, the most requests in flight, overlapping
// in-flight requests) and injects faults: an error status, a write or
// discard silently dropped, a write written at another offset. A discard
// zeroes its range, as a punched hole reads back; on a disk without discard
// it completes with -EOPNOTSUPP, as blkfront's does when not negotiated.
#pragma once

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "frontend/block_device.hpp"
#include "hypervisor/client/domain_memory.hpp"

namespace pvsim::test {

class MemoryDisk : public frontend::BlockDevice {
  public:
    struct Fault {
        int status = 0;     // non-zero: complete with it, move nothing
        bool drop = false;  // a write or discard reports success, changes nothing
        std::optional<std::uint64_t> redirect;  // a write lands at this offset instead

        static Fault none() { return Fault{0, false, std::nullopt}; }
        static Fault error(int status) { return Fault{status, false, std::nullopt}; }
        static Fault dropped() { return Fault{0, true, std::nullopt}; }
        static Fault redirected(std::uint64_t to) { return Fault{0, false, to}; }
    };
    using FaultRule = std::function<Fault(frontend::BlockOperation, std::uint64_t offset)>;

    struct Io {
        frontend::BlockOperation operation;
        std::uint64_t offset;
        std::uint64_t length;
    };

    MemoryDisk(hypervisor::DomainMemory& memory, std::uint64_t bytes, bool read_only = false)
        : memory_(memory), data_(bytes), read_only_(read_only), thread_([this] { run(); }) {}

    ~MemoryDisk() override {
        {
            std::lock_guard lock(mutex_);
            stopping_ = true;
        }
        wake_.notify_all();
        thread_.join();
    }

    std::uint64_t capacity_sectors() const override { return data_.size() / 512; }
    std::uint32_t sector_size() const override { return 512; }
    bool read_only() const override { return read_only_; }
    std::string error() const override { return {}; }
    std::size_t in_flight() const override {
        std::lock_guard lock(mutex_);
        return queue_.size() + (busy_ ? 1 : 0);
    }

    void submit(std::span<frontend::BlockRequest> batch) override {
        std::lock_guard lock(mutex_);
        if (batches_ == 0) {
            first_submit_ = std::chrono::steady_clock::now();
        }
        ++batches_;
        for (frontend::BlockRequest& request : batch) {
            const std::uint64_t offset = request.sector * 512;
            const std::uint64_t length = request.operation == frontend::BlockOperation::discard
                                             ? request.discard_sectors * 512
                                         : request.buffer ? request.buffer->length
                                                          : 0;
            for (const Pending& other : queue_) {
                overlaps_ += overlap(other.io, offset, length) ? 1 : 0;
            }
            if (busy_) {
                overlaps_ += overlap(current_, offset, length) ? 1 : 0;
            }
            Pending pending{Io{request.operation, offset, length}, request.buffer,
                            std::move(request.done)};
            log_.push_back(pending.io);
            queue_.push_back(std::move(pending));
            max_in_flight_ = std::max(max_in_flight_, queue_.size() + (busy_ ? 1 : 0));
        }
        wake_.notify_all();
    }

    // Set before a run.
    void set_delay(std::chrono::microseconds delay) {
        std::lock_guard lock(mutex_);
        delay_ = delay;
    }
    void set_fault(FaultRule rule) {
        std::lock_guard lock(mutex_);
        fault_ = std::move(rule);
    }
    void set_discard(bool supported) {
        std::lock_guard lock(mutex_);
        discard_ = supported;
    }

    // What was asked, in submission order; then reset.
    std::vector<Io> take_log() {
        std::lock_guard lock(mutex_);
        return std::exchange(log_, {});
    }
    // When the first batch came; none yet: the clock's epoch.
    std::chrono::steady_clock::time_point first_submit() const {
        std::lock_guard lock(mutex_);
        return first_submit_;
    }
    std::size_t max_in_flight() const {
        std::lock_guard lock(mutex_);
        return max_in_flight_;
    }
    std::size_t overlaps() const {
        std::lock_guard lock(mutex_);
        return overlaps_;
    }
    std::size_t batches() const {
        std::lock_guard lock(mutex_);
        return batches_;
    }

    // The disk's bytes, directly (between runs).
    std::vector<std::byte> read_raw(std::uint64_t offset, std::uint64_t length) const {
        std::lock_guard lock(mutex_);
        return {data_.begin() + offset, data_.begin() + offset + length};
    }
    void write_raw(std::uint64_t offset, std::span<const std::byte> bytes) {
        std::lock_guard lock(mutex_);
        std::copy(bytes.begin(), bytes.end(), data_.begin() + offset);
    }
    void flip_byte(std::uint64_t offset) {
        std::lock_guard lock(mutex_);
        data_[offset] ^= std::byte{0x5a};
    }
    std::vector<std::byte> snapshot() const { return read_raw(0, data_.size()); }

  private:
    struct Pending {
        Io io;
        const frontend::GuestBuffer* buffer;
        frontend::BlockCompletion done;
    };

    static bool overlap(const Io& a, std::uint64_t offset, std::uint64_t length) {
        return a.offset < offset + length && offset < a.offset + a.length;
    }

    void run() {
        std::unique_lock lock(mutex_);
        for (;;) {
            wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
            if (queue_.empty()) {
                return;
            }
            Pending pending = std::move(queue_.front());
            queue_.pop_front();
            busy_ = true;
            current_ = pending.io;
            const auto delay = delay_;
            const Fault fault =
                fault_ ? fault_(pending.io.operation, pending.io.offset) : Fault::none();
            const bool discard = discard_;
            lock.unlock();
            if (delay.count() > 0) {
                std::this_thread::sleep_for(delay);
            }
            const int status =
                fault.status != 0 ? fault.status : move_data(pending, fault, discard);
            lock.lock();
            busy_ = false;
            lock.unlock();
            // As blkfront: the request no longer counts as in flight when its
            // callback runs, so the callback may submit the next one.
            pending.done(status);
            lock.lock();
        }
    }

    int move_data(const Pending& pending, const Fault& fault, bool discard) {
        const Io& io = pending.io;
        if (io.operation == frontend::BlockOperation::flush) {
            return 0;
        }
        if (io.operation == frontend::BlockOperation::discard && !discard) {
            return -EOPNOTSUPP;
        }
        if (io.offset + io.length > data_.size()) {
            return -EIO;
        }
        if (io.operation == frontend::BlockOperation::discard) {
            if (!fault.drop) {
                std::lock_guard lock(mutex_);
                std::fill_n(data_.begin() + static_cast<std::ptrdiff_t>(io.offset), io.length,
                            std::byte{0});
            }
            return 0;
        }
        if (io.operation == frontend::BlockOperation::write && fault.drop) {
            return 0;
        }
        const std::uint64_t at = io.operation == frontend::BlockOperation::write && fault.redirect
                                     ? *fault.redirect
                                     : io.offset;
        std::lock_guard lock(mutex_);
        for (std::uint64_t done = 0, page = 0; done < io.length; ++page) {
            const std::uint64_t n = std::min<std::uint64_t>(4096, io.length - done);
            std::byte* guest = memory_.page(pending.buffer->pages[page]).data();
            if (io.operation == frontend::BlockOperation::read) {
                std::memcpy(guest, data_.data() + at + done, n);
            } else {
                std::memcpy(data_.data() + at + done, guest, n);
            }
            done += n;
        }
        return 0;
    }

    hypervisor::DomainMemory& memory_;
    mutable std::mutex mutex_;
    std::condition_variable wake_;
    std::vector<std::byte> data_;
    bool read_only_;
    std::deque<Pending> queue_;
    bool busy_ = false;
    Io current_{};
    bool stopping_ = false;
    std::chrono::microseconds delay_{0};
    FaultRule fault_;
    bool discard_ = true;
    std::vector<Io> log_;
    std::size_t max_in_flight_ = 0;
    std::size_t overlaps_ = 0;
    std::size_t batches_ = 0;
    std::chrono::steady_clock::time_point first_submit_{};
    std::thread thread_;  // last: starts once everything else is ready
};

}  // namespace pvsim::test
