#include "frontend/blkfront/queue_set.hpp"

#include <algorithm>
#include <cerrno>
#include <stdexcept>
#include <utility>

#include <spdlog/spdlog.h>

namespace pvsim::frontend::blkfront {

QueueSet::~QueueSet() {
    std::vector<std::unique_ptr<BlkfrontQueue>> queues;
    {
        std::lock_guard lock(mutex_);
        queues.swap(queues_);
    }
    queues.clear();
    std::lock_guard lock(mutex_);
    complete_held_locked(-ENODEV);
}

void QueueSet::attach(std::vector<std::unique_ptr<BlkfrontQueue>> queues) {
    if (queues.empty()) {
        throw std::invalid_argument("blkfront: attaching no rings");
    }
    std::vector<BlockRequest> held;
    std::vector<BlkfrontQueue*> targets;
    {
        std::lock_guard lock(mutex_);
        if (!queues_.empty()) {
            throw std::logic_error("blkfront: rings attached twice");
        }
        queues_ = std::move(queues);
        config_ = std::make_unique<DataPlaneConfig>(queues_.front()->config());
        queue_map_.clear();
        holding_ = false;
        held.swap(held_);
        for (const auto& queue : queues_) {
            targets.push_back(queue.get());
        }
        ++active_submits_;
    }
    // blkif_recover: every held request again, re-split by the new rings.
    for (std::size_t i = 0; i < held.size(); ++i) {
        targets[i % targets.size()]->submit({&held[i], 1});
    }
    std::lock_guard lock(mutex_);
    --active_submits_;
    idle_.notify_all();
}

bool QueueSet::attached() const {
    std::lock_guard lock(mutex_);
    return !queues_.empty();
}

void QueueSet::hold() {
    std::lock_guard lock(mutex_);
    holding_ = true;
    for (const auto& queue : queues_) {
        queue->hold();
    }
}

std::size_t QueueSet::take_back() {
    std::vector<std::unique_ptr<BlkfrontQueue>> queues;
    std::size_t taken = 0;
    {
        std::unique_lock lock(mutex_);
        holding_ = true;
        // A submitter inside a ring queues what it has there (the ring is
        // held) and leaves; then the rings can be emptied.
        idle_.wait(lock, [this] { return active_submits_ == 0; });
        for (const auto& queue : queues_) {
            BlkfrontQueue::Unfinished unfinished = queue->take_unfinished();
            taken += unfinished.requests.size();
            BlkfrontCounters c = queue->counters();
            c.recovered = unfinished.were_on_ring;
            add_counters(retired_, counts_only(c));
            for (BlockRequest& request : unfinished.requests) {
                held_.push_back(std::move(request));
            }
        }
        queues.swap(queues_);
    }
    queues.clear();  // joins their completion threads
    return taken;
}

std::size_t QueueSet::on_ring() const {
    std::lock_guard lock(mutex_);
    std::size_t total = 0;
    for (const auto& queue : queues_) {
        total += queue->on_ring();
    }
    return total;
}

void QueueSet::when_idle(std::function<void()> then) {
    std::vector<BlkfrontQueue*> queues;
    {
        std::lock_guard lock(mutex_);
        for (const auto& queue : queues_) {
            queues.push_back(queue.get());
        }
    }
    if (queues.empty()) {
        then();
        return;
    }
    // The last ring to go idle runs it.
    auto left = std::make_shared<std::atomic<std::size_t>>(queues.size());
    auto shared = std::make_shared<std::function<void()>>(std::move(then));
    for (BlkfrontQueue* queue : queues) {
        queue->when_idle([left, shared] {
            if (left->fetch_sub(1) == 1) {
                (*shared)();
            }
        });
    }
}

std::uint64_t QueueSet::capacity_sectors() const {
    std::lock_guard lock(mutex_);
    return queues_.empty() ? config_->disk.sectors : queues_.front()->capacity_sectors();
}

std::uint32_t QueueSet::sector_size() const {
    std::lock_guard lock(mutex_);
    return config_->disk.sector_size;
}

bool QueueSet::read_only() const {
    std::lock_guard lock(mutex_);
    return config_->disk.read_only();
}

std::size_t QueueSet::queue_locked(std::thread::id thread) {
    return queue_map_.queue_for(thread, queues_.size(),
                                [this](std::size_t i) { return queues_[i]->completion_thread(); });
}

std::size_t QueueSet::queue_of_this_thread() {
    std::lock_guard lock(mutex_);
    return queues_.empty() ? 0 : queue_locked(std::this_thread::get_id());
}

void QueueSet::submit(std::span<BlockRequest> batch) {
    for (BlockRequest& request : batch) {
        // Counted here, so that a request taken back and issued again stays
        // one request in flight until its callback has returned.
        request.done = [this, done = std::move(request.done)](int status) {
            if (done) {
                done(status);
            }
            in_flight_.fetch_sub(1, std::memory_order_acq_rel);
        };
    }
    in_flight_.fetch_add(batch.size(), std::memory_order_acq_rel);
    BlkfrontQueue* queue = nullptr;
    {
        std::lock_guard lock(mutex_);
        if (holding_ || queues_.empty()) {
            if (!accepting_ && !queues_.empty()) {
                queue = queues_.front().get();  // completes them with -ENODEV
            } else {
                for (BlockRequest& request : batch) {
                    held_.push_back(std::move(request));
                }
                return;
            }
        } else {
            queue = queues_[queue_locked(std::this_thread::get_id())].get();
        }
        ++active_submits_;
    }
    queue->submit(batch);
    std::lock_guard lock(mutex_);
    --active_submits_;
    idle_.notify_all();
}

std::size_t QueueSet::in_flight() const {
    return in_flight_.load(std::memory_order_acquire);
}

std::string QueueSet::error() const {
    std::lock_guard lock(mutex_);
    for (const auto& queue : queues_) {
        if (std::string text = queue->error(); !text.empty()) {
            return text;
        }
    }
    return queues_.empty() ? stop_reason_ : std::string();
}

BlkfrontCounters QueueSet::counters() const {
    std::lock_guard lock(mutex_);
    // Every ring's counts (dropped ones too), the persistent grants the
    // rings hold now, the rings, and the pages of one ring.
    BlkfrontCounters sum = retired_;
    for (const auto& queue : queues_) {
        const BlkfrontCounters c = queue->counters();
        add_counters(sum, c);
        sum.ring_pages = c.ring_pages;
    }
    sum.queues = queues_.size();
    if (queues_.empty()) {
        sum.ring_pages = 0;
    }
    return sum;
}

const DataPlaneConfig& QueueSet::config() const {
    std::lock_guard lock(mutex_);
    return *config_;
}

std::size_t QueueSet::queue_count() const {
    std::lock_guard lock(mutex_);
    return queues_.size();
}

void QueueSet::set_capacity(std::uint64_t sectors) {
    std::lock_guard lock(mutex_);
    for (const auto& queue : queues_) {
        queue->set_capacity(sectors);
    }
}

std::chrono::microseconds QueueSet::poll() const {
    std::lock_guard lock(mutex_);
    return queues_.empty() ? config_->poll : queues_.front()->poll();
}

void QueueSet::set_poll(std::chrono::microseconds window) {
    std::lock_guard lock(mutex_);
    for (const auto& queue : queues_) {
        queue->set_poll(window);
    }
}

void QueueSet::complete_held_locked(int status) {
    std::vector<BlockRequest> held;
    held.swap(held_);
    if (held.empty()) {
        return;
    }
    if (!queues_.empty()) {
        // On the ring's completion thread, as every callback runs.
        queues_.front()->submit(held);
        return;
    }
    for (BlockRequest& request : held) {
        if (request.done) {
            request.done(status);
        }
    }
}

void QueueSet::stop_accepting(const std::string& reason) {
    std::lock_guard lock(mutex_);
    accepting_ = false;
    holding_ = false;
    stop_reason_ = reason;
    for (const auto& queue : queues_) {
        queue->stop_accepting(reason);
    }
    complete_held_locked(-ENODEV);
}

void QueueSet::disconnect(const std::string& reason) {
    std::vector<BlkfrontQueue*> queues;
    {
        std::lock_guard lock(mutex_);
        for (const auto& queue : queues_) {
            queues.push_back(queue.get());
        }
    }
    // Not under the lock: a callback run meanwhile may submit.
    for (BlkfrontQueue* queue : queues) {
        queue->disconnect(reason);
    }
}

void QueueSet::fail(const std::string& reason) {
    std::lock_guard lock(mutex_);
    for (const auto& queue : queues_) {
        queue->fail(reason);
    }
}

bool QueueSet::failed() const {
    std::lock_guard lock(mutex_);
    for (const auto& queue : queues_) {
        if (queue->failed()) {
            return true;
        }
    }
    return false;
}

}  // namespace pvsim::frontend::blkfront
