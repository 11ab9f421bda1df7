#include "backend/blkback/persistent_grants.hpp"

#include <algorithm>

namespace pvsim::backend::blkback {

PersistentGrants::Lookup PersistentGrants::get(xen::GrantRef ref, std::byte** page) {
    const auto it = grants_.find(ref);
    if (it == grants_.end()) {
        return Lookup::absent;
    }
    if (it->second.active) {
        return Lookup::in_use;
    }
    it->second.active = true;
    ++active_;
    *page = it->second.page;
    return Lookup::found;
}

bool PersistentGrants::has_room() noexcept {
    if (grants_.size() < max_) {
        return true;
    }
    overflow_ = true;
    return false;
}

void PersistentGrants::add(xen::GrantRef ref, xen::GrantHandle handle, std::byte* page) {
    grants_[ref] = Grant{handle, page, true, {}};
    ++active_;
}

void PersistentGrants::put(xen::GrantRef ref, Clock::time_point now) {
    const auto it = grants_.find(ref);
    if (it == grants_.end() || !it->second.active) {
        return;
    }
    it->second.active = false;
    it->second.last_used = now;
    --active_;
}

std::vector<xen::GrantHandle> PersistentGrants::purge(Clock::time_point now) {
    std::vector<xen::GrantHandle> out;
    if (now < next_purge_) {
        return out;
    }
    next_purge_ = now + kPurgeInterval;
    const std::size_t count = grants_.size();
    // Below the bound (or at it without an overflow) num_clean is 0, and
    // only grants unused for the timeout go: purge_persistent_gnt's first
    // pass ("!scan_used && !persistent_gnt_timeout() -> continue") runs
    // whatever the count (Linux 4.2 to 6.x).
    std::size_t num_clean = 0;
    if (count > max_ || (count == max_ && overflow_)) {
        overflow_ = false;
        // "num_clean = (max_pgrants / 100) * LRU_PERCENT_CLEAN; num_clean =
        // persistent_gnt_c - max_pgrants + num_clean; num_clean = min(...)".
        // At least one, so that a table smaller than 20 grants still turns
        // over.
        num_clean = count - max_ + std::max<std::size_t>(1, max_ / 100 * kPercentClean);
        num_clean = std::min(num_clean, count);
    }

    std::vector<std::pair<Clock::time_point, xen::GrantRef>> idle;
    for (const auto& [ref, grant] : grants_) {
        if (!grant.active) {
            idle.emplace_back(grant.last_used, ref);
        }
    }
    std::sort(idle.begin(), idle.end());
    // Timed-out grants go whatever their number; then the least recently
    // used until num_clean have gone.
    for (const auto& [last_used, ref] : idle) {
        // persistent_gnt_timeout: "jiffies - last_used >= HZ * pgrant_timeout".
        const bool timed_out = now - last_used >= timeout_;
        if (!timed_out && out.size() >= num_clean) {
            break;
        }
        out.push_back(grants_.at(ref).handle);
        grants_.erase(ref);
    }
    return out;
}

std::vector<xen::GrantHandle> PersistentGrants::take_all() {
    std::vector<xen::GrantHandle> out;
    for (auto it = grants_.begin(); it != grants_.end();) {
        if (it->second.active) {
            ++it;
            continue;
        }
        out.push_back(it->second.handle);
        it = grants_.erase(it);
    }
    return out;
}

}  // namespace pvsim::backend::blkback
