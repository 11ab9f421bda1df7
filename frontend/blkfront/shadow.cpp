#include "frontend/blkfront/shadow.hpp"

#include <stdexcept>
#include <string>
#include <utility>

namespace pvsim::frontend::blkfront {

ShadowTable::ShadowTable(std::size_t size) : entries_(size), pending_(size, false) {
    if (size == 0) {
        throw std::invalid_argument("shadow table: no entries");
    }
    free_.reserve(size);
    for (std::size_t id = size; id > 0; --id) {
        free_.push_back(id - 1);
    }
}

std::optional<std::uint64_t> ShadowTable::take() {
    if (free_.empty()) {
        return std::nullopt;
    }
    const std::uint64_t id = free_.back();
    free_.pop_back();
    pending_[id] = true;
    entries_[id] = ShadowEntry{};
    return id;
}

ShadowEntry& ShadowTable::at(std::uint64_t id) {
    if (!pending(id)) {
        throw std::out_of_range("shadow id " + std::to_string(id) + " is not pending");
    }
    return entries_[id];
}

const ShadowEntry& ShadowTable::at(std::uint64_t id) const {
    if (!pending(id)) {
        throw std::out_of_range("shadow id " + std::to_string(id) + " is not pending");
    }
    return entries_[id];
}

ShadowEntry ShadowTable::release(std::uint64_t id) {
    ShadowEntry entry = std::move(at(id));
    entries_[id] = ShadowEntry{};
    pending_[id] = false;
    free_.push_back(id);
    return entry;
}

std::vector<std::uint64_t> ShadowTable::pending_ids() const {
    std::vector<std::uint64_t> ids;
    for (std::size_t id = 0; id < entries_.size(); ++id) {
        if (pending_[id]) {
            ids.push_back(id);
        }
    }
    return ids;
}

}  // namespace pvsim::frontend::blkfront
