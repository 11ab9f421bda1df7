// IoEngine that runs every I/O with blocking calls on the owner's own
// thread, in flush_submissions() (fio's psync engine): no thread hand-off
// and no kernel worker, at the price of blocking the owner's loop for as
// long as each I/O takes. Meant only for stores that never wait on a device,
// i.e. images on tmpfs: tmpfs cannot read without blocking (no IOCB_NOWAIT:
// preadv2(RWF_NOWAIT) answers EOPNOTSUPP), so io_uring hands every tmpfs I/O
// to one of its kernel workers, and the thread pool to one of its threads,
// each costing a wake-up per I/O (tests/bench/storage measures it). "auto"
// chooses it for an image on tmpfs (make_engine.hpp).
#pragma once

#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

#include "backend/storage/io_engine.hpp"
#include "common/os/event_fd.hpp"

namespace pvsim::backend::storage {

class SyncEngine final : public IoEngine {
  public:
    SyncEngine(IoTarget target, unsigned queue_depth);

    std::string_view name() const noexcept override { return "sync"; }

    void flush_submissions() override;
    // Readable while completions wait, from the moment it is asked for
    // (see sync_engine.cpp): ask each time before sleeping.
    int completion_fd() const override;
    bool has_completions() const noexcept override { return has_ready(); }
    std::size_t reap_into(std::span<IoCompletion> out) override;

  private:
    void prepare(std::uint32_t index) override { staged_.push_back(index); }

    // Signalled by completion_fd() (const: asking for the fd is what makes
    // it readable), consumed by the reap that takes the last completion.
    mutable os::EventFd completion_event_{os::EventFd::Options{.nonblocking = true}};
    mutable bool signalled_ = false;
    std::vector<std::uint32_t> staged_;
};

}  // namespace pvsim::backend::storage
