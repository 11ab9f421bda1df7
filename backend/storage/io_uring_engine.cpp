#include "backend/storage/io_uring_engine.hpp"

#include <sched.h>

#include <cerrno>
#include <memory>
#include <stdexcept>
#include <string>

#include "backend/storage/blocking_io.hpp"
#include "common/os/unique_fd.hpp"

namespace pvsim::backend::storage {
namespace {

struct FreeProbe {
    void operator()(io_uring_probe* probe) const noexcept { io_uring_free_probe(probe); }
};

// READV/WRITEV/FSYNC date from Linux 5.1, FALLOCATE from 5.6, as does the
// probe itself: a kernel that cannot answer it lacks an operation we need.
void check_operations(io_uring& ring) {
    const std::unique_ptr<io_uring_probe, FreeProbe> probe(io_uring_get_probe_ring(&ring));
    if (!probe) {
        throw std::system_error(EOPNOTSUPP, std::system_category(),
                                "io_uring: the kernel cannot list its operations (before 5.6)");
    }
    constexpr struct {
        int op;
        const char* name;
    } kNeeded[] = {{IORING_OP_READV, "READV"},
                   {IORING_OP_WRITEV, "WRITEV"},
                   {IORING_OP_FSYNC, "FSYNC"},
                   {IORING_OP_FALLOCATE, "FALLOCATE"}};
    for (const auto& needed : kNeeded) {
        if (!io_uring_opcode_supported(probe.get(), needed.op)) {
            throw std::system_error(EOPNOTSUPP, std::system_category(),
                                    std::string("io_uring: no IORING_OP_") + needed.name);
        }
    }
}

// io_uring's workers (io-wq, which run what cannot complete inline, and
// every fsync) are threads of this process, but whether they keep its CPU
// mask depends on the kernel: Linux 6.1 gives each the CPUs of its NUMA
// node (io_init_new_worker: set_cpus_allowed_ptr(wqe->cpu_mask)), 6.12
// those of the cgroup's cpuset (io_wq_create: cpuset_cpus_allowed); on
// this project's test kernel (6.18) they showed the backend's mask
// without help. IORING_REGISTER_IOWQ_AFF (Linux 5.14) makes it hold on
// every kernel: a backend pinned to dom0's CPUs (common/os/cpu_list.hpp)
// keeps its punted I/O there, as a dom0 kernel's own workers stay on
// dom0's vCPUs. An older kernel refuses it (EINVAL) and keeps its way.
void pin_workers_here(io_uring& ring) {
    cpu_set_t mask;
    CPU_ZERO(&mask);
    if (::sched_getaffinity(0, sizeof mask, &mask) == 0) {
        (void)io_uring_register_iowq_aff(&ring, sizeof mask, &mask);
    }
}

}  // namespace

IoUringEngine::IoUringEngine(IoTarget target, unsigned queue_depth)
    : IoEngine(target, queue_depth) {
    // The submission queue holds the whole depth, so a burst never needs an
    // early submit; the completion queue (twice as large) never overflows.
    if (const int ret = io_uring_queue_init(queue_depth, &ring_, 0); ret < 0) {
        os::throw_system_error("io_uring_queue_init", -ret);
    }
    try {
        check_operations(ring_);
        pin_workers_here(ring_);
        if (const int ret = io_uring_register_eventfd(&ring_, completion_event_.fd()); ret < 0) {
            os::throw_system_error("io_uring_register_eventfd", -ret);
        }
    } catch (...) {
        io_uring_queue_exit(&ring_);
        throw;
    }
    blocking_.reserve(queue_depth);
    transfers_.reserve(queue_depth);
}

IoUringEngine::~IoUringEngine() {
    // Entries never submitted are dropped; those the kernel took are waited
    // for, since closing the ring does not stop a read already writing into
    // a caller's buffer.
    unsigned started = sqes_outstanding_ - io_uring_sq_ready(&ring_);
    while (started > 0) {
        io_uring_cqe* cqe = nullptr;
        const int ret = io_uring_wait_cqe(&ring_, &cqe);
        if (ret == -EINTR) {
            continue;
        }
        if (ret < 0) {
            break;
        }
        io_uring_cqe_seen(&ring_, cqe);
        --started;
    }
    io_uring_queue_exit(&ring_);
}

void IoUringEngine::prepare(std::uint32_t index) {
    const IoRequest& request = requests()[index];
    if (target().block_device &&
        (request.op == IoOp::discard || request.op == IoOp::write_zeroes)) {
        blocking_.push_back(index);
        return;
    }
    if (request.is_transfer()) {
        transfers_.push_back(index);
        return;
    }
    queue_sqe(index);
}

void IoUringEngine::queue_sqe(std::uint32_t index) {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    if (sqe == nullptr) {
        // Cannot happen while the ring holds the whole depth; kept so that a
        // change there cannot turn into a lost request.
        submit_queued();
        sqe = io_uring_get_sqe(&ring_);
        if (sqe == nullptr) {
            throw std::logic_error("io_uring: submission queue full");
        }
    }
    const IoRequest& request = requests()[index];
    const int fd = target().fd;
    switch (request.op) {
        case IoOp::read:
        case IoOp::write: {
            const auto iov = request.remaining_iov();
            const auto count = static_cast<unsigned>(iov.size());
            if (request.op == IoOp::read) {
                io_uring_prep_readv(sqe, fd, iov.data(), count, request.next_offset());
            } else {
                io_uring_prep_writev(sqe, fd, iov.data(), count, request.next_offset());
            }
            break;
        }
        case IoOp::flush:
            io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC);
            break;
        case IoOp::discard:
        case IoOp::write_zeroes:
            io_uring_prep_fallocate(sqe, fd, fallocate_mode(request),
                                    static_cast<off_t>(request.offset),
                                    static_cast<off_t>(request.length));
            break;
    }
    io_uring_sqe_set_data64(sqe, index);
    ++sqes_outstanding_;
}

void IoUringEngine::submit_queued() {
    while (io_uring_sq_ready(&ring_) > 0) {
        const int ret = io_uring_submit(&ring_);
        if (ret == -EINTR) {
            continue;
        }
        if (ret < 0) {
            os::throw_system_error("io_uring_submit", -ret);
        }
        if (ret == 0) {
            break;
        }
    }
}

void IoUringEngine::flush_submissions() {
    // Only a transfer that would go alone into io_uring_enter(2) is tried
    // without waiting (see the header).
    const bool alone = transfers_.size() == 1 && io_uring_sq_ready(&ring_) == 0;
    for (const std::uint32_t index : transfers_) {
        if (!(alone && served_without_waiting(index))) {
            queue_sqe(index);
        }
    }
    transfers_.clear();
    submit_queued();
    if (blocking_.empty()) {
        return;
    }
    for (const std::uint32_t index : blocking_) {
        run_now(index);
    }
    blocking_.clear();
}

bool IoUringEngine::has_completions() const noexcept {
    return has_ready() || io_uring_cq_ready(&ring_) > 0;
}

int IoUringEngine::completion_fd() const {
    // The eventfd is reset here, once before each sleep, rather than at
    // every reap: a reap then costs no read system call (2 µs on these
    // machines), and an owner that reaps what has_completions() shows
    // before it sleeps rarely sleeps at all. Reset, then look: a
    // completion posted before the reset (or made by flush_submissions()
    // itself, a block device's discard) would otherwise be slept through,
    // so the fd is made readable again for it; one posted after signals it
    // anew.
    completion_event_.try_consume();
    if (has_completions()) {
        completion_event_.signal();
    }
    return completion_event_.fd();
}

std::size_t IoUringEngine::reap_into(std::span<IoCompletion> out) {
    if (out.empty()) {
        return 0;
    }
    std::size_t count = take_ready(out, 0);

    bool continued = false;
    unsigned head = 0;
    unsigned seen = 0;
    io_uring_cqe* cqe = nullptr;
    io_uring_for_each_cqe(&ring_, head, cqe) {
        if (count == out.size()) {
            break;
        }
        ++seen;
        --sqes_outstanding_;
        const auto index = static_cast<std::uint32_t>(io_uring_cqe_get_data64(cqe));
        if (const auto final = requests()[index].settle(cqe->res)) {
            out[count++] = complete(index, *final);
        } else {
            queue_sqe(index);
            continued = true;
        }
    }
    io_uring_cq_advance(&ring_, seen);
    if (continued) {
        submit_queued();
    }
    return count;
}

}  // namespace pvsim::backend::storage
